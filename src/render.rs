//! Rendering: validated request -> LaTeX + charts -> PDF bytes, each TeX run in a confined
//! child process with a deadline and a memory cap.
//!
//! Tectonic reads any file a document names, keeps global state and cannot be cancelled from
//! inside, so the engine never runs in this process: [`Renderer`] writes the job's files to a
//! fresh temp folder, starts the child ([`crate::sandbox`]), feeds it the document on stdin
//! and reads the PDF and log back from its stdout. The folder is removed on every path out.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::config::RenderConfig;
use crate::domain::ParamError;
use crate::domain::job::Lane;
use crate::request::ReportRequest;
use crate::sandbox;
use crate::template::{self, Prepared, RenderContext};

/// Why a render failed. [`RenderError::is_permanent`] is the retry decision for the queue.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("invalid request: {0}")]
    Params(#[from] ParamError),
    #[error(
        "the TeX bundle at {path} is not usable: {problem}. Build it with `scripts/tex-bundle.sh` (or `make setup`), or point REPORTQ_TEX_BUNDLE at one"
    )]
    Bundle { path: PathBuf, problem: String },
    #[error("the template failed: {0}")]
    Template(String),
    #[error("drawing a chart failed: {0}")]
    Chart(String),
    #[error("TeX failed: {message}\n--- TeX log excerpt ---\n{log_excerpt}")]
    Tex { message: String, log_excerpt: String },
    #[error("the render took longer than its {0:.1?} deadline and was stopped")]
    Timeout(Duration),
    #[error("the render needed more than its {0} MiB memory limit and was stopped")]
    Memory(u64),
    #[error("the render process failed: {0}")]
    Child(String),
    #[error("refused to render without a sandbox ({0}); set REPORTQ_REQUIRE_SANDBOX=0 to render unconfined, one job at a time")]
    SandboxUnavailable(String),
    #[error("I/O error while rendering: {0}")]
    Io(#[from] std::io::Error),
}

impl RenderError {
    /// A permanent error fails the job; a transient one is worth another try.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, RenderError::Child(_) | RenderError::Io(_) | RenderError::Bundle { .. } | RenderError::SandboxUnavailable(_))
    }

    /// A short stable code for APIs and job records.
    pub fn code(&self) -> &'static str {
        match self {
            RenderError::Params(_) => "invalid_params",
            RenderError::Bundle { .. } => "bundle_unavailable",
            RenderError::Template(_) => "template_error",
            RenderError::Chart(_) => "chart_error",
            RenderError::Tex { .. } => "tex_error",
            RenderError::Timeout(_) => "render_timeout",
            RenderError::Memory(_) => "render_memory",
            RenderError::Child(_) => "render_process",
            RenderError::SandboxUnavailable(_) => "sandbox_unavailable",
            RenderError::Io(_) => "io_error",
        }
    }
}

impl From<crate::template::TemplateError> for RenderError {
    fn from(e: crate::template::TemplateError) -> Self {
        use crate::template::TemplateError as T;
        match e {
            T::Params(p) => RenderError::Params(p),
            T::Template(m) => RenderError::Template(m),
            T::Chart(m) => RenderError::Chart(m),
        }
    }
}

/// A finished render.
#[derive(Debug)]
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub log: String,
    /// What confined the TeX child ("landlock (fully enforced)", or why nothing could).
    pub sandbox: String,
    /// How long the render waited for a free slot before it started.
    pub slot_wait: Duration,
    /// The TeX format the child loaded: a template preamble's (`rq-…`), or LaTeX's own
    /// (`latex`) when no format was built for this preamble ([`crate::texformat`]).
    pub tex_format: String,
}

/// The CPU priority of bulk renders: at nice 10 the kernel gives an interactive render at
/// nice 0 about ten times their share of a busy core.
const BULK_NICE: i32 = 10;

/// Renders reports. Cheap to share (`Arc<Renderer>`); at most `concurrency` TeX children run
/// at once, each engine alone in its own process.
pub struct Renderer {
    cfg: RenderConfig,
    exe: PathBuf,
    format_dir: PathBuf,
    /// What confining a child gives on this machine (probed once at start).
    sandbox: String,
    /// TeX children at once: the configured number, or 1 when renders run unconfined (the
    /// operator's opt-in): then no two jobs' files are ever in reach of one document.
    concurrency: usize,
    running: Mutex<usize>,
    freed: Condvar,
}

impl Renderer {
    /// Checks the bundle and the pre-built format, so that a broken install is a clear error at
    /// start-up rather than a download attempt, a 3 s format build or a hang at request time.
    pub fn new(cfg: RenderConfig) -> Result<Self, RenderError> {
        let bad = |problem: String| RenderError::Bundle { path: cfg.bundle.clone(), problem };
        if !cfg.bundle.is_dir() {
            return Err(bad("the folder does not exist".into()));
        }
        for f in ["SHA256SUM", "tectonic-format-latex.tex", "xelatex.ini", "latex.ltx"] {
            if !cfg.bundle.join(f).is_file() {
                return Err(bad(format!("{f} is missing")));
            }
        }
        let format_dir = cfg.bundle.join("format");
        let fmt = crate::texformat::path(&cfg.bundle, crate::texformat::LATEX).map_err(|e| bad(e.to_string()))?;
        if !fmt.is_file() {
            return Err(bad(format!("the pre-built format {} is missing (run `reportq setup`)", fmt.display())));
        }
        if cfg.preload && crate::texformat::preamble_formats(&cfg.bundle) == 0 {
            tracing::warn!(
                bundle = %cfg.bundle.display(),
                "no preamble formats in the bundle: every document compiles whole on LaTeX's format, two to three times slower (run `reportq setup`)"
            );
        }
        let exe = match &cfg.child_exe {
            Some(p) => p.clone(),
            None => std::env::current_exe()?,
        };
        sandbox::hide_from_children();
        let sandbox = probe_sandbox(&exe);
        let mut concurrency = cfg.concurrency;
        if !sandbox::is_confined(&sandbox) {
            if cfg.require_sandbox {
                tracing::error!(
                    sandbox,
                    "no sandbox on this machine: every render will be refused (REPORTQ_REQUIRE_SANDBOX=0 opts into unconfined renders)"
                );
            } else {
                concurrency = 1;
                tracing::warn!(sandbox, "rendering WITHOUT a sandbox (REPORTQ_REQUIRE_SANDBOX=0): one render at a time");
            }
        }
        Ok(Self { cfg, exe, format_dir, sandbox, concurrency, running: Mutex::new(0), freed: Condvar::new() })
    }

    /// What confines the TeX children here (`landlock (fully enforced)`, or why nothing does).
    pub fn sandbox(&self) -> &str {
        &self.sandbox
    }

    pub fn config(&self) -> &RenderConfig {
        &self.cfg
    }

    /// Renders a validated request to PDF bytes.
    pub fn render(&self, req: &ReportRequest, ctx: &RenderContext) -> Result<Rendered, RenderError> {
        self.refuse_unconfined()?;
        // Unconfined (the operator's opt-in), a whole render holds the one slot: one job at a
        // time in the process, its charts included.
        let asked = Instant::now();
        let slot = self.unconfined().then(|| self.slot(ctx.lane));
        let prepared = template::prepare(&req.params, ctx)?;
        self.render_in_slot(&prepared, ctx, slot, asked)
    }

    /// Runs TeX on an already prepared document (tests use it to feed documents no user can).
    pub fn render_prepared(&self, p: &Prepared, ctx: &RenderContext) -> Result<Rendered, RenderError> {
        self.refuse_unconfined()?;
        self.render_in_slot(p, ctx, None, Instant::now())
    }

    /// Fail closed: with `require_sandbox` and no Landlock here, nothing renders.
    fn refuse_unconfined(&self) -> Result<(), RenderError> {
        if self.cfg.require_sandbox && !sandbox::is_confined(&self.sandbox) {
            return Err(RenderError::SandboxUnavailable(self.sandbox.clone()));
        }
        Ok(())
    }

    fn unconfined(&self) -> bool {
        !sandbox::is_confined(&self.sandbox)
    }

    fn render_in_slot(&self, p: &Prepared, ctx: &RenderContext, slot: Option<SlotGuard<'_>>, asked: Instant) -> Result<Rendered, RenderError> {
        let _slot = slot.unwrap_or_else(|| self.slot(ctx.lane));
        let slot_wait = asked.elapsed();
        // The job folder is the only one the child may read besides the bundle; TempDir removes
        // it when this function returns, on success, error or panic alike.
        let dir = tempfile::Builder::new().prefix("reportq-").tempdir_in(&self.cfg.tmp_dir)?;
        for (name, bytes) in &p.assets {
            std::fs::write(dir.path().join(name), bytes)?;
        }
        std::fs::write(dir.path().join("doc.xmpdata"), template::xmpdata(&p.meta, ctx))?;
        let mut r = self.run_child(dir.path(), &p.tex, ctx)?;
        r.slot_wait = slot_wait;
        Ok(r)
    }

    /// Waits for a render slot. Interactive renders may use one slot beyond the limit, so a
    /// person's report starts at once even while bulk renders fill the rest.
    fn slot(&self, lane: Lane) -> SlotGuard<'_> {
        let limit = match lane {
            // Unconfined renders run alone, whoever waits.
            _ if self.unconfined() => 1,
            Lane::Interactive => self.concurrency + 1,
            Lane::Bulk => self.concurrency,
        };
        let mut n = self.running.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= limit {
            n = self.freed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        SlotGuard(self)
    }

    fn run_child(&self, job_dir: &Path, tex: &str, ctx: &RenderContext) -> Result<Rendered, RenderError> {
        // The preamble's own format when setup built it: the child starts after the packages.
        let plan = crate::texformat::plan(&self.cfg.bundle, tex, self.cfg.preload);
        let mut cmd = Command::new(&self.exe);
        cmd.arg(sandbox::CHILD_ARG)
            .arg(&self.cfg.bundle)
            .arg(&self.format_dir)
            .arg(job_dir)
            .arg(ctx.date.epoch.to_string())
            .arg(&plan.format)
            .arg(plan.passes.to_string())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .current_dir(job_dir);
        if self.cfg.require_sandbox {
            cmd.env(sandbox::REQUIRE_ENV, "1");
        }
        let nice = match ctx.lane {
            Lane::Interactive => 0,
            Lane::Bulk => BULK_NICE,
        };
        sandbox::limit_child(&mut cmd, self.cfg.memory_mb, self.cfg.timeout, nice);
        let mut child = cmd.spawn().map_err(|e| RenderError::Child(format!("cannot start {}: {e}", self.exe.display())))?;
        let pid = child.id();
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let tex = plan.text.as_bytes().to_vec();
        // Feed and drain on threads: a pipe fills up, and the deadline must hold whatever the
        // child does with its end.
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&tex);
        });
        let out_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.read_to_end(&mut buf);
            buf
        });
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.take(1 << 20).read_to_end(&mut buf);
            buf
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let deadline = Instant::now() + self.cfg.timeout;
        let status = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(s) => s?,
            Err(_) => {
                // The waiter has not reaped the child, so the pid is still ours to kill.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                let _ = waiter.join();
                let _ = (feeder.join(), out_reader.join(), err_reader.join());
                return Err(RenderError::Timeout(self.cfg.timeout));
            }
        };
        let _ = waiter.join();
        let _ = feeder.join();
        let out = out_reader.join().unwrap_or_default();
        let err = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
        let reply = sandbox::Reply::decode(&out);
        let sandbox_note = err.lines().find_map(|l| l.strip_prefix("sandbox: ")).unwrap_or("unknown").to_string();
        let memory_hint = |s: &str| {
            let s = s.to_ascii_lowercase();
            // Rust's "memory allocation of N bytes failed", XeTeX's "xrealloc() to N bytes failed".
            (s.contains("alloc") && s.contains("fail")) || s.contains("out of memory") || s.contains("cannot allocate")
        };
        match reply {
            Some(r) if status.success() && r.error.is_empty() => {
                Ok(Rendered { pdf: r.pdf, log: r.log, sandbox: sandbox_note, slot_wait: Duration::ZERO, tex_format: plan.format })
            }
            Some(r) if r.error.starts_with(sandbox::REFUSED) => Err(RenderError::SandboxUnavailable(sandbox_note)),
            Some(r) if !r.error.is_empty() => {
                if memory_hint(&r.error) {
                    return Err(RenderError::Memory(self.cfg.memory_mb));
                }
                Err(RenderError::Tex { message: r.error, log_excerpt: log_excerpt(&r.log) })
            }
            _ => {
                use std::os::unix::process::ExitStatusExt;
                if memory_hint(&err) || status.signal() == Some(libc::SIGABRT) || status.signal() == Some(libc::SIGSEGV) {
                    return Err(RenderError::Memory(self.cfg.memory_mb));
                }
                if status.signal() == Some(libc::SIGXCPU) {
                    return Err(RenderError::Timeout(self.cfg.timeout));
                }
                let tail: String = err.lines().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                Err(RenderError::Child(format!("TeX process ended with {status}: {tail}")))
            }
        }
    }
}

/// Runs `exe __tex-child --probe`: what Landlock gives a child here, before any render.
fn probe_sandbox(exe: &Path) -> String {
    match Command::new(exe).arg(sandbox::CHILD_ARG).arg(sandbox::PROBE_ARG).env_clear().stdin(Stdio::null()).stderr(Stdio::null()).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => format!("WARNING: the sandbox probe failed ({})", out.status),
        Err(e) => format!("WARNING: the sandbox probe could not start: {e}"),
    }
}

struct SlotGuard<'a>(&'a Renderer);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut n = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        self.0.freed.notify_all();
    }
}

/// The part of a TeX log a person needs: each error line (`! ...`) with the lines after it
/// that show where it happened.
pub fn log_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with('!') {
            out.extend(lines[i..(i + 6).min(lines.len())].iter().copied());
            out.push("...");
        }
        if out.len() > 40 {
            break;
        }
    }
    if out.is_empty() {
        // No TeX error line: the end of the log says what TeX was doing.
        out = lines[lines.len().saturating_sub(12)..].to_vec();
    }
    out.join("\n")
}
