//! What AWS Lambda does to a process's confinement calls, done to a process under test:
//! `prctl` answers EPERM (so no no-new-privs, no seccomp filter, no death signal, no
//! non-dumpable flag) and the three Landlock calls ENOSYS (a kernel without Landlock). Two
//! seccomp filters, installed between fork and exec, inherited by the process's children.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::Command;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, SeccompRule};

fn filter(calls: &[libc::c_long], errno: i32) -> BpfProgram {
    let arch = std::env::consts::ARCH.try_into().expect("a seccompiler architecture");
    let rules: BTreeMap<i64, Vec<SeccompRule>> = calls.iter().map(|&n| (n, vec![])).collect();
    SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno as u32), arch).unwrap().try_into().unwrap()
}

/// Runs `cmd` as Lambda would confine it: no `prctl`, no Landlock.
pub fn as_on_lambda(cmd: &mut Command) {
    let landlock = filter(&[libc::SYS_landlock_create_ruleset, libc::SYS_landlock_add_rule, libc::SYS_landlock_restrict_self], libc::ENOSYS);
    let prctl = filter(&[libc::SYS_prctl], libc::EPERM);
    // SAFETY: between fork and exec only prctl and seccomp, on filters built before the fork;
    // the second filter's own prctl(NO_NEW_PRIVS) runs before that filter is in force.
    unsafe {
        cmd.pre_exec(move || {
            seccompiler::apply_filter(&landlock).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
            seccompiler::apply_filter(&prctl).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
            Ok(())
        });
    }
}
