//! The TeX child process: one TeX run, confined in layers.
//!
//! Every reportq binary starts with [`maybe_run_child`]: when called as
//! `<exe> __tex-child BUNDLE FORMAT_DIR EPOCH FORMAT PASSES` it reads its input on stdin (the
//! job's own files and the document, [`encode_input`]), confines itself, runs the engines
//! with every output in memory, writes a [`Reply`] to stdout and exits. The parent
//! ([`crate::render`]) has already capped its address space, CPU time and file size, cleared
//! its environment, and kills it at the deadline.
//!
//! The layers, each recorded in the job's timeline (`sandbox`: `io+seccomp+landlock`):
//! - `io` ([`io`]): the engines reach files only through an allow-list: bundle files and the
//!   job's inputs by plain name, the formats. It needs nothing from the kernel, so it holds
//!   on AWS Lambda, which refuses `prctl` and with it the two layers below. Always on.
//! - `landlock` and `seccomp` ([`kernel`]): attempted in every child, applied where the kernel
//!   and platform allow them, and recorded either way.
//!
//! The credentials the parent holds are kept out of reach by [`credentials`], not by `prctl`.

pub mod credentials;
pub mod io;
pub mod kernel;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

pub use kernel::Layers;

pub const CHILD_ARG: &str = "__tex-child";
/// `<exe> __tex-child --probe`: confine as a render would, print the layers, exit.
pub const PROBE_ARG: &str = "--probe";
/// `<exe> __tex-child --probe --check`: also try, once confined, what the kernel layers forbid
/// (a socket, a read outside the bundle, a write, a new process, a signal to the parent) and
/// print what each attempt got: the tests' proof that each layer works, and that without it
/// each attempt succeeds.
pub const PROBE_CHECK_ARG: &str = "--check";
/// `<exe> __tex-child ... --host-io`: the engines on the host file system (Tectonic's own
/// driver) instead of the allow-list. Only `reportq tex-run --host-io` asks for it: the
/// hostile-TeX tests' negative control, which shows what the allow-list stops.
pub const HOST_IO_ARG: &str = "--host-io";
/// The kernel layers a child must have or refuse to render (`seccomp,landlock`, or empty).
pub const REQUIRE_ENV: &str = "REPORTQ_CHILD_REQUIRE_SANDBOX";
/// How a child that refused to render without a required layer starts its error.
pub const REFUSED: &str = "sandbox unavailable:";
/// How the child reports its layers on stderr: `sandbox: io+seccomp` and one line of notes.
pub const LAYERS_LINE: &str = "sandbox: ";
pub const NOTES_LINE: &str = "sandbox-notes: ";

/// Runs the TeX child and exits if this process was started as one; returns otherwise.
pub fn maybe_run_child() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(CHILD_ARG)) {
        return;
    }
    let mut rest: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let host_io = rest.last().is_some_and(|a| a.as_os_str() == HOST_IO_ARG);
    if host_io {
        rest.pop();
    }
    let code = match rest.as_slice() {
        [probe, rest @ ..] if probe.as_os_str() == PROBE_ARG => {
            let l = kernel::confine(&[]);
            println!("{}", l.summary());
            println!("{}", l.notes.join("; "));
            if rest.first().is_some_and(|a| a.as_os_str() == PROBE_CHECK_ARG) {
                println!("{}", kernel::try_forbidden());
            }
            0
        }
        [bundle, format_dir, epoch, format, passes] => {
            let tex = TexJob {
                format: format.to_string_lossy().into_owned(),
                passes: passes.to_str().and_then(|s| s.parse().ok()).unwrap_or(1),
                epoch: epoch.to_str().and_then(|s| s.parse().ok()).unwrap_or(0),
                format_source: None,
                verbose: false,
                xdv_only: false,
            };
            child_main(bundle, format_dir, &tex, host_io)
        }
        _ => {
            eprintln!("usage: {CHILD_ARG} BUNDLE FORMAT_DIR EPOCH FORMAT PASSES [{HOST_IO_ARG}] (internal)");
            2
        }
    };
    std::process::exit(code);
}

/// Limits applied between fork and exec: the child cannot outgrow its memory cap, burn CPU
/// past the deadline, write files, or outlive its parent (the child sets its own death signal, where `prctl` is allowed, and
/// records whether it held). `nice` lowers its CPU priority
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

/// A job's own files by their plain names, as the child gets them.
pub type Inputs = HashMap<String, Vec<u8>>;

/// The child's input on stdin: the job's files (name, bytes), then the document.
pub fn encode_input(inputs: &[(String, Vec<u8>)], document: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(document.len() + inputs.iter().map(|(n, d)| n.len() + d.len() + 16).sum::<usize>() + 16);
    out.extend_from_slice(&(inputs.len() as u64).to_le_bytes());
    for (name, data) in inputs {
        for part in [name.as_bytes(), data] {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out.extend_from_slice(document);
    out
}

/// The inverse of [`encode_input`]. Names that are not plain file names are refused: the
/// parent never sends one.
pub fn decode_input(buf: &[u8]) -> Result<(Inputs, Vec<u8>), String> {
    fn take<'a>(buf: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], String> {
        let part = buf.get(*at..at.checked_add(n).ok_or("a length overflows")?).ok_or("the input ends early")?;
        *at += n;
        Ok(part)
    }
    fn len(buf: &[u8], at: &mut usize) -> Result<usize, String> {
        Ok(u64::from_le_bytes(take(buf, at, 8)?.try_into().expect("8 bytes")) as usize)
    }
    let mut at = 0usize;
    let count = len(buf, &mut at)?;
    let mut inputs = HashMap::new();
    for _ in 0..count {
        let n = len(buf, &mut at)?;
        let name = String::from_utf8(take(buf, &mut at, n)?.to_vec()).map_err(|_| "an input name is not UTF-8".to_string())?;
        if !io::plain_name(&name) {
            return Err(format!("the input name {name:?} is not a plain file name"));
        }
        let n = len(buf, &mut at)?;
        inputs.insert(name, take(buf, &mut at, n)?.to_vec());
    }
    Ok((inputs, buf[at..].to_vec()))
}

/// Makes this process (the one holding the job's data) non-dumpable, so that a TeX child of
/// the same user cannot read its memory or `/proc/<parent>/environ`. Lambda refuses `prctl`:
/// the error is returned for the caller to record, and [`credentials`] keeps the AWS
/// credentials out of the environment whether or not this holds. Children start dumpable
/// again (execve resets it).
pub fn hide_from_children() -> Result<(), std::io::Error> {
    // SAFETY: prctl with these arguments only changes a flag of this process.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// An empty fontconfig configuration, written once per process under `tmp`: the children's
/// `FONTCONFIG_FILE`, so that a font name in a document finds no system font (fonts come from
/// the bundle only). A missing or unreadable file would make fontconfig fall back to the
/// system's fonts, so the renderer checks it is there before every child.
pub fn empty_font_config(tmp: &Path) -> std::io::Result<PathBuf> {
    const TEXT: &str = "<?xml version=\"1.0\"?>\n<fontconfig></fontconfig>\n";
    // Per user: another user's file in a shared /tmp could say anything.
    let path = tmp.join(format!("reportq-fonts-{}.conf", unsafe { libc::geteuid() }));
    if std::fs::read_to_string(&path).is_ok_and(|t| t == TEXT) {
        return Ok(path);
    }
    let mut f = tempfile::NamedTempFile::new_in(tmp)?;
    f.write_all(TEXT.as_bytes())?;
    f.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}

fn child_main(bundle: &Path, format_dir: &Path, job: &TexJob, host_io: bool) -> i32 {
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut raw) {
        eprintln!("reading the input: {e}");
        return 3;
    }
    let font_config = std::env::var_os("FONTCONFIG_FILE").map(PathBuf::from);
    let mut readable: Vec<&Path> = vec![bundle, format_dir];
    if let Some(f) = &font_config {
        readable.push(f);
    }
    let mut layers = kernel::confine(&readable);
    if host_io {
        layers.held.retain(|l| *l != kernel::IO);
        layers.notes[0] = "io: OFF (--host-io: the engines open host files; a test's negative control)".into();
    }
    eprintln!("{LAYERS_LINE}{}", layers.summary());
    eprintln!("{NOTES_LINE}{}", layers.notes.join("; "));
    let required = std::env::var(REQUIRE_ENV).unwrap_or_default();
    let missing: Vec<&str> = required.split(',').map(str::trim).filter(|l| !l.is_empty() && !layers.has(l)).collect();
    let reply = if !missing.is_empty() {
        // Fail closed on the operator's word: a layer they require did not hold here.
        Reply { error: format!("{REFUSED} {} required but not available ({})", missing.join(", "), layers.notes.join("; ")), ..Default::default() }
    } else {
        match decode_input(&raw) {
            Err(e) => Reply { error: format!("the render process got a bad input: {e}"), ..Default::default() },
            Ok((inputs, doc)) if host_io => {
                let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
                let _ = inputs;
                run_tectonic(bundle, format_dir, &cwd, &doc, job)
            }
            Ok((inputs, doc)) => io::run(bundle, format_dir, inputs, doc, job, &mut tectonic::status::NoopStatusBackend::default()),
        }
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

/// One run through Tectonic's own driver, on the host file system under `job_dir`, every output
/// kept in memory: `reportq setup` builds the formats with it (trusted documents, unconfined:
/// it writes them), and `--host-io` runs it as the negative control. Renders use [`io::run`].
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
            Some(f) if job.xdv_only => Reply { error: String::new(), pdf: f.data, log },
            Some(f) => io::finish_pdf(
                f.data,
                files.remove(crate::tagging::RECORD_FILE).map(|f| f.data),
                files.remove(crate::xmp::META_FILE).map(|f| f.data),
                log,
            ),
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
