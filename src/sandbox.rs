//! The TeX child process: one Tectonic run, confined.
//!
//! Every reportq binary starts with [`maybe_run_child`]: when called as
//! `<exe> __tex-child BUNDLE FORMAT_DIR JOB_DIR EPOCH FORMAT PASSES` it reads a document on stdin, confines
//! itself with Landlock (read-only access to the bundle and the job folder; no writes, no
//! exec, no TCP), runs Tectonic with outputs in memory, writes a [`Reply`] to stdout and
//! exits. The parent ([`crate::render`]) has already capped its address space and CPU time
//! and kills it at the deadline.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

pub const CHILD_ARG: &str = "__tex-child";
/// `<exe> __tex-child --probe`: confine as a render would, print the result, exit.
pub const PROBE_ARG: &str = "--probe";
/// Set (to `1`) in a child's environment when it must not render unconfined.
pub const REQUIRE_ENV: &str = "REPORTQ_CHILD_REQUIRE_SANDBOX";
/// How a child that refused to render unconfined starts its error.
pub const REFUSED: &str = "sandbox unavailable:";

/// Runs the TeX child and exits if this process was started as one; returns otherwise.
pub fn maybe_run_child() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(CHILD_ARG)) {
        return;
    }
    let rest: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let code = match rest.as_slice() {
        [probe] if probe.as_os_str() == PROBE_ARG => {
            println!("{}", confine(&[]));
            0
        }
        [bundle, format_dir, job_dir, epoch, format, passes] => {
            let tex = TexJob {
                format: format.to_string_lossy().into_owned(),
                passes: passes.to_str().and_then(|s| s.parse().ok()).unwrap_or(1),
                epoch: epoch.to_str().and_then(|s| s.parse().ok()).unwrap_or(0),
                format_source: None,
                verbose: false,
                xdv_only: false,
            };
            child_main(bundle, format_dir, job_dir, &tex)
        }
        _ => {
            eprintln!("usage: {CHILD_ARG} BUNDLE FORMAT_DIR JOB_DIR EPOCH FORMAT PASSES (internal)");
            2
        }
    };
    std::process::exit(code);
}

/// Limits applied between fork and exec: the child cannot outgrow its memory cap, burn CPU
/// past the deadline, write files, or outlive its parent. `nice` lowers its CPU priority
/// (bulk renders yield the CPU to the one a person waits for).
pub fn limit_child(cmd: &mut Command, memory_mb: u64, timeout: Duration, nice: i32) {
    use std::os::unix::process::CommandExt;
    let mem = memory_mb.saturating_mul(1 << 20);
    let cpu = timeout.as_secs() + 2;
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let set = |res, v: u64| {
                let lim = libc::rlimit { rlim_cur: v as libc::rlim_t, rlim_max: v as libc::rlim_t };
                libc::setrlimit(res, &lim)
            };
            set(libc::RLIMIT_AS, mem);
            set(libc::RLIMIT_CPU, cpu);
            // No file may grow: outputs go over the pipe, never to disk.
            set(libc::RLIMIT_FSIZE, 0);
            set(libc::RLIMIT_CORE, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
            // Only stdin, stdout and stderr (its pipes) reach the child: every other descriptor
            // the parent inherited or opened without close-on-exec (sockets with credentials'
            // connections, other jobs' files) is marked close-on-exec here, so exec drops it.
            // Marked, not closed: std's own pipe that reports a failed exec must live until then.
            const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) != 0 {
                // Before Linux 5.11: one descriptor at a time (fcntl is async-signal-safe).
                for fd in 3..4096 {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            if nice != 0 {
                libc::setpriority(libc::PRIO_PROCESS, 0, nice);
            }
            Ok(())
        });
    }
}

/// What the child sends back: an error message (empty on success), the PDF and the log.
#[derive(Debug, Default)]
pub struct Reply {
    pub error: String,
    pub pdf: Vec<u8>,
    pub log: String,
}

impl Reply {
    fn encode(&self, out: &mut impl Write) -> std::io::Result<()> {
        for part in [self.error.as_bytes(), &self.pdf, self.log.as_bytes()] {
            out.write_all(&(part.len() as u64).to_le_bytes())?;
            out.write_all(part)?;
        }
        out.flush()
    }

    /// `None` when the child died before writing a whole reply.
    pub fn decode(mut buf: &[u8]) -> Option<Reply> {
        let mut part = || -> Option<Vec<u8>> {
            let n = u64::from_le_bytes(buf.get(..8)?.try_into().ok()?) as usize;
            let data = buf.get(8..8 + n)?.to_vec();
            buf = &buf[8 + n..];
            Some(data)
        };
        let error = String::from_utf8_lossy(&part()?).into_owned();
        let pdf = part()?;
        let log = String::from_utf8_lossy(&part()?).into_owned();
        Some(Reply { error, pdf, log })
    }
}

/// Confines this process to reading `paths`. Returns a note for the parent's records; where
/// the kernel has no Landlock the render goes on, with a warning, behind the other limits.
fn confine(paths: &[&Path]) -> String {
    use landlock::{
        ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, path_beneath_rules,
    };
    let abi = ABI::V5;
    let attempt = || -> Result<RulesetStatus, landlock::RulesetError> {
        let status = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(abi))?
            .handle_access(AccessNet::from_all(abi))?
            .create()?
            .add_rules(path_beneath_rules(paths, AccessFs::from_read(abi)))?
            .restrict_self()?;
        Ok(status.ruleset)
    };
    match attempt() {
        Ok(RulesetStatus::FullyEnforced) => "landlock (fully enforced)".into(),
        Ok(RulesetStatus::PartiallyEnforced) => "landlock (partially enforced: older kernel)".into(),
        Ok(RulesetStatus::NotEnforced) | Err(_) => {
            "WARNING: landlock unavailable in this kernel: TeX file reads are not confined (rlimits only)".into()
        }
    }
}

/// Whether a [`confine`] note means file reads are confined (fully, or partially on an older
/// kernel, which still confines reads).
pub fn is_confined(note: &str) -> bool {
    note.starts_with("landlock (")
}

/// Makes this process (the one holding AWS credentials in its environment) non-dumpable, so
/// that a TeX child of the same user cannot read `/proc/<parent>/environ` or its memory. It
/// matters where Landlock is missing (Lambda's kernel may lack it): Tectonic itself opens any
/// absolute or `../` path a document names. Children start dumpable again (execve resets it).
pub fn hide_from_children() {
    // SAFETY: prctl with these arguments only changes a flag of this process.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

fn child_main(bundle: &Path, format_dir: &Path, job_dir: &Path, job: &TexJob) -> i32 {
    let mut tex = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut tex) {
        eprintln!("reading the document: {e}");
        return 3;
    }
    let note = confine(&[bundle, format_dir, job_dir]);
    eprintln!("sandbox: {note}");
    let reply = if !is_confined(&note) && std::env::var_os(REQUIRE_ENV).is_some() {
        // Fail closed: Tectonic opens any file a document names; without Landlock only the
        // rlimits and the user stand between a document and the host's files.
        Reply { error: format!("{REFUSED} {note}"), ..Default::default() }
    } else {
        run_tectonic(bundle, format_dir, job_dir, &tex, job)
    };
    let mut out = std::io::stdout().lock();
    match reply.encode(&mut out) {
        Ok(()) => 0,
        Err(_) => 4,
    }
}

/// What one Tectonic run does besides reading its document.
#[derive(Debug, Clone)]
pub struct TexJob {
    /// The format to load (`latex`, or a preamble format: [`crate::texformat`]).
    pub format: String,
    /// TeX passes before the PDF (2 for tagged documents).
    pub passes: u8,
    /// The document's date (seconds since 1970): the engine's clock.
    pub epoch: u64,
    /// The INI-mode source of `format`, for the run that builds it (`reportq setup`); renders
    /// never build formats (their child cannot write).
    pub format_source: Option<String>,
    /// Show TeX's messages (setup); renders stay quiet.
    pub verbose: bool,
    /// Stop before xdvipdfmx and return the XDV in `Reply::pdf` (the render profile times the
    /// two engines apart).
    pub xdv_only: bool,
}

/// One Tectonic run with every output kept in memory. Also used (unconfined) by `reportq
/// setup` to build the format files.
pub fn run_tectonic(bundle: &Path, format_dir: &Path, job_dir: &Path, tex: &[u8], job: &TexJob) -> Reply {
    use tectonic::driver::{OutputFormat, ProcessingSessionBuilder};
    use tectonic::status::termcolor::TermcolorStatusBackend;
    use tectonic::status::{ChatterLevel, NoopStatusBackend, StatusBackend};
    let mut status: Box<dyn StatusBackend> = if job.verbose {
        let mut s = TermcolorStatusBackend::new(ChatterLevel::Normal);
        s.always_stderr(true);
        Box::new(s)
    } else {
        Box::new(NoopStatusBackend::default())
    };
    let status = status.as_mut();
    let dir = tectonic_bundles::dir::DirBundle::new(bundle);
    let bundle: Box<dyn tectonic_bundles::Bundle> = match &job.format_source {
        // Tectonic builds a missing format from `tectonic-format-<name>.tex`, read from the
        // bundle only (never the job folder): served from memory, so the bundle stays as built.
        Some(source) => Box::new(WithFile { inner: dir, name: format!("tectonic-format-{}.tex", job.format), data: source.clone().into_bytes() }),
        None => Box::new(dir),
    };
    let mut sb = ProcessingSessionBuilder::default();
    sb.bundle(bundle)
        .primary_input_buffer(tex)
        .tex_input_name("doc.tex")
        .format_name(&job.format)
        .format_cache_path(format_dir)
        .filesystem_root(job_dir)
        .output_format(if job.xdv_only { OutputFormat::Xdv } else { OutputFormat::Pdf })
        .keep_intermediates(false)
        .keep_logs(true)
        .print_stdout(false)
        .do_not_write_output_files()
        .reruns(usize::from(job.passes.saturating_sub(1)))
        .build_date(SystemTime::UNIX_EPOCH + Duration::from_secs(job.epoch));
    let mut session = match sb.create(status) {
        Ok(s) => s,
        Err(e) => return Reply { error: format!("starting TeX: {}", chain(&e)), ..Default::default() },
    };
    let result = session.run(status);
    let mut files = session.into_file_data();
    let log = files.remove("doc.log").map(|f| String::from_utf8_lossy(&f.data).into_owned()).unwrap_or_default();
    match result {
        Ok(()) => match files.remove(if job.xdv_only { "doc.xdv" } else { "doc.pdf" }) {
            Some(f) => Reply { error: String::new(), pdf: f.data, log },
            None => Reply { error: "TeX produced no PDF".into(), pdf: Vec::new(), log },
        },
        Err(e) => Reply { error: chain(&e), pdf: Vec::new(), log },
    }
}

/// A bundle with one more file, held in memory.
struct WithFile {
    inner: tectonic_bundles::dir::DirBundle,
    name: String,
    data: Vec<u8>,
}

impl tectonic::io::IoProvider for WithFile {
    fn input_open_name(
        &mut self,
        name: &str,
        status: &mut dyn tectonic::status::StatusBackend,
    ) -> tectonic::io::OpenResult<tectonic::io::InputHandle> {
        use tectonic::io::{InputHandle, InputOrigin, OpenResult};
        if name == self.name {
            return OpenResult::Ok(InputHandle::new_read_only(name, std::io::Cursor::new(self.data.clone()), InputOrigin::Other));
        }
        self.inner.input_open_name(name, status)
    }
}

impl tectonic_bundles::Bundle for WithFile {
    fn get_digest(&mut self) -> tectonic::Result<tectonic::digest::DigestData> {
        self.inner.get_digest()
    }

    fn all_files(&self) -> Vec<String> {
        self.inner.all_files()
    }
}

fn chain(e: &tectonic::Error) -> String {
    // The alternate form prints the whole cause chain on one line.
    format!("{e:#}")
}
