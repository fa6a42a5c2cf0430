//! The kernel's layers of a TeX child's confinement, each attempted and each recorded: the
//! allow-list ([`super::io`]) is what holds on its own; these add to it where the platform
//! allows them. AWS Lambda refuses `prctl` (so no no-new-privs, no seccomp filter for an
//! unprivileged process, no Landlock) and may run a kernel without Landlock: there every
//! attempt below fails, the failure is written down, and the render goes on behind the
//! allow-list alone.
//!
//! Order matters: the death signal first (a child must not outlive the parent that holds its
//! deadline), then Landlock (its own system calls must still be allowed), then the seccomp
//! filters, which forbid what a TeX run never needs: sockets, new processes and programs,
//! other processes' memory, signals to anyone else, and opening or changing files for write.

use std::collections::BTreeMap;
use std::path::Path;

pub use crate::domain::confinement::{IO, LANDLOCK, SECCOMP};

/// What confines one child: the layers that hold, and a note for each attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layers {
    /// Layers in force, in the order they were applied (`io` always first).
    pub held: Vec<&'static str>,
    /// One line per attempt: what held, or what refused it and with which error.
    pub notes: Vec<String>,
}

impl Layers {
    /// `io+seccomp+landlock`, or `io` alone where the kernel layers were refused.
    pub fn summary(&self) -> String {
        self.held.join("+")
    }

    pub fn has(&self, layer: &str) -> bool {
        self.held.contains(&layer)
    }
}

/// Applies every kernel layer this process can get: it is the TeX child, between reading its
/// input and starting the engine. `read` is what Landlock lets it read (the bundle, its
/// formats, the empty font configuration); nothing may be written anywhere.
pub fn confine(read: &[&Path]) -> Layers {
    let mut l = Layers { held: vec![IO], notes: vec!["io: the engine opens only the allow-list (bundle, formats, the job's own inputs)".into()] };
    // SAFETY: prctl with these arguments changes only this process's death signal.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    l.notes.push(if rc == 0 {
        "pdeathsig: set (the child dies with its parent)".into()
    } else {
        format!("pdeathsig: refused ({}): the parent's deadline and RLIMIT_CPU still end the child", std::io::Error::last_os_error())
    });
    match landlock(read) {
        Ok(how) => {
            l.held.push(LANDLOCK);
            l.notes.push(format!("landlock: {how}"));
        }
        Err(why) => l.notes.push(format!("landlock: not applied ({why})")),
    }
    match seccomp() {
        Ok(()) => {
            l.held.push(SECCOMP);
            l.notes.push("seccomp: filter installed (no sockets, exec, new processes, ptrace, signals to others, writes)".into());
        }
        Err(why) => l.notes.push(format!("seccomp: not applied ({why})")),
    }
    // The summary order is fixed (io+seccomp+landlock) whatever order they were applied in.
    l.held.sort_by_key(|n| [IO, SECCOMP, LANDLOCK].iter().position(|x| x == n));
    l
}

fn landlock(paths: &[&Path]) -> Result<&'static str, String> {
    use landlock::{
        ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, path_beneath_rules,
    };
    let abi = ABI::V5;
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.handle_access(AccessNet::from_all(abi)))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(paths, AccessFs::from_read(abi))))
        .and_then(|r| r.restrict_self())
        .map_err(|e| e.to_string())?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok("fully enforced (reads: bundle and formats only; no writes, no TCP)"),
        RulesetStatus::PartiallyEnforced => Ok("partially enforced (an older kernel: reads still confined)"),
        RulesetStatus::NotEnforced => Err("this kernel has no Landlock".into()),
    }
}

/// The system calls a TeX run never makes, answered with EPERM; `clone3` and `openat2` (whose
/// arguments a filter cannot read) with ENOSYS, so that the C library falls back to `clone`
/// and `openat`, which the filter can check.
fn seccomp() -> Result<(), String> {
    use seccompiler::{SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition as Cond, SeccompFilter, SeccompRule};
    let arch: seccompiler::TargetArch = std::env::consts::ARCH.try_into().map_err(|e| format!("{e}"))?;
    let me = std::process::id() as u64;
    let rule = |conds: Vec<Cond>| SeccompRule::new(conds).map_err(|e| e.to_string());
    let cond = |arg: u8, op: Op, v: u64| Cond::new(arg, Len::Qword, op, v).map_err(|e| e.to_string());
    let always = Vec::new;
    let mut deny: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    #[rustfmt::skip]
    let unconditional: Vec<libc::c_long> = vec![
        // No network.
        libc::SYS_socket, libc::SYS_socketpair, libc::SYS_connect, libc::SYS_bind, libc::SYS_listen,
        libc::SYS_accept, libc::SYS_accept4,
        // No program, no process, no other process's memory.
        libc::SYS_execve, libc::SYS_execveat, libc::SYS_ptrace, libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev, libc::SYS_kcmp, libc::SYS_pidfd_open, libc::SYS_pidfd_getfd,
        libc::SYS_pidfd_send_signal, libc::SYS_rt_sigqueueinfo, libc::SYS_rt_tgsigqueueinfo,
        // Nothing on disk changes.
        libc::SYS_unlinkat, libc::SYS_renameat, libc::SYS_renameat2, libc::SYS_mkdirat, libc::SYS_linkat,
        libc::SYS_symlinkat, libc::SYS_fchmod, libc::SYS_fchmodat, libc::SYS_fchown, libc::SYS_fchownat,
        libc::SYS_truncate, libc::SYS_mknodat, libc::SYS_utimensat, libc::SYS_setxattr, libc::SYS_lsetxattr,
        libc::SYS_fsetxattr, libc::SYS_removexattr, libc::SYS_lremovexattr, libc::SYS_fremovexattr,
        libc::SYS_open_by_handle_at, libc::SYS_name_to_handle_at,
        // Ways around a filter, or into the kernel's larger surfaces.
        libc::SYS_io_uring_setup, libc::SYS_io_uring_enter, libc::SYS_io_uring_register, libc::SYS_bpf,
        libc::SYS_perf_event_open, libc::SYS_userfaultfd, libc::SYS_mount, libc::SYS_umount2,
        libc::SYS_pivot_root, libc::SYS_chroot, libc::SYS_unshare, libc::SYS_setns, libc::SYS_keyctl,
        libc::SYS_add_key, libc::SYS_request_key,
    ];
    #[cfg(target_arch = "x86_64")]
    #[rustfmt::skip]
    let unconditional = [unconditional, vec![
        libc::SYS_fork, libc::SYS_vfork, libc::SYS_creat, libc::SYS_unlink, libc::SYS_rename, libc::SYS_mkdir,
        libc::SYS_rmdir, libc::SYS_link, libc::SYS_symlink, libc::SYS_chmod, libc::SYS_chown, libc::SYS_lchown,
        libc::SYS_mknod, libc::SYS_utime, libc::SYS_utimes, libc::SYS_futimesat,
    ]].concat();
    for nr in unconditional {
        deny.insert(nr, always());
    }
    // clone: threads only (a new process lacks CLONE_THREAD).
    deny.insert(libc::SYS_clone, vec![rule(vec![cond(0, Op::MaskedEq(libc::CLONE_THREAD as u64), 0)?])?]);
    // Signals: to itself only (abort raises SIGABRT at its own pid and tid).
    for nr in [libc::SYS_kill, libc::SYS_tkill, libc::SYS_tgkill] {
        deny.insert(nr, vec![rule(vec![cond(0, Op::Ne, me)?])?]);
    }
    // Opening for write, in any of the ways open(2) spells it.
    let write_flags = [libc::O_WRONLY, libc::O_RDWR, libc::O_CREAT, libc::O_TRUNC, libc::O_APPEND];
    let opening = |flags_arg: u8| -> Result<Vec<SeccompRule>, String> {
        write_flags.iter().map(|&f| rule(vec![cond(flags_arg, Op::MaskedEq(f as u64), f as u64)?])).collect()
    };
    deny.insert(libc::SYS_openat, opening(2)?);
    #[cfg(target_arch = "x86_64")]
    deny.insert(libc::SYS_open, opening(1)?);

    let enosys: BTreeMap<i64, Vec<SeccompRule>> = [(libc::SYS_clone3, always()), (libc::SYS_openat2, always())].into_iter().collect();
    let compile = |rules, errno: i32| -> Result<seccompiler::BpfProgram, String> {
        let f = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno as u32), arch).map_err(|e| e.to_string())?;
        f.try_into().map_err(|e: seccompiler::BackendError| e.to_string())
    };
    let (enosys, deny) = (compile(enosys, libc::ENOSYS)?, compile(deny, libc::EPERM)?);
    for prog in [&enosys, &deny] {
        seccompiler::apply_filter(prog).map_err(|e| match e {
            seccompiler::Error::Prctl(io) => format!("prctl(PR_SET_NO_NEW_PRIVS), which a filter needs, refused: {io}"),
            other => other.to_string(),
        })?;
    }
    Ok(())
}

/// Tries each thing the kernel layers forbid and says what happened, one `name=result` each
/// (`ok`, or the error): `socket`, `read-outside` (`/etc/passwd`), `write` (a new file under
/// `/tmp`, removed again), `fork`, `signal-parent` (signal 0: nothing is delivered).
pub fn try_forbidden() -> String {
    fn res(rc: libc::c_long) -> String {
        if rc >= 0 { "ok".into() } else { std::io::Error::last_os_error().raw_os_error().map(errno_name).unwrap_or("error").into() }
    }
    let mut out = Vec::new();
    // SAFETY: plain system calls on values this function owns; a forked child only _exits.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        out.push(format!("socket={}", res(fd as libc::c_long)));
        if fd >= 0 {
            libc::close(fd);
        }
        let fd = libc::open(c"/etc/passwd".as_ptr(), libc::O_RDONLY);
        out.push(format!("read-outside={}", res(fd as libc::c_long)));
        if fd >= 0 {
            libc::close(fd);
        }
        let path = std::ffi::CString::new(format!("/tmp/reportq-probe-{}", std::process::id())).expect("no NUL");
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o600);
        out.push(format!("write={}", res(fd as libc::c_long)));
        if fd >= 0 {
            libc::close(fd);
            libc::unlink(path.as_ptr());
        }
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(0);
        }
        out.push(format!("fork={}", res(pid as libc::c_long)));
        if pid > 0 {
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        out.push(format!("signal-parent={}", res(libc::kill(libc::getppid(), 0) as libc::c_long)));
    }
    out.join(" ")
}

fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::ENOSYS => "ENOSYS",
        libc::ENOENT => "ENOENT",
        libc::EFBIG => "EFBIG",
        _ => "error",
    }
}
