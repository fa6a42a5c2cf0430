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
use crate::sandbox::{self, Layers};
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
    #[error("refused to render: {0} (REPORTQ_REQUIRE_SANDBOX names the layers a render needs; io, the default, holds everywhere)")]
    SandboxUnavailable(String),
    #[error("I/O error while rendering: {0}")]
    Io(#[from] std::io::Error),
    #[error("embedding the request and provenance failed: {0}")]
    Provenance(String),
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
            RenderError::Provenance(_) => "provenance_error",
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
    /// The layers that confined the TeX child: `io+seccomp+landlock`, or `io` alone where the
    /// platform refuses the kernel's ([`crate::sandbox`]).
    pub sandbox: String,
    /// How long the render waited for a free slot before it started.
    pub slot_wait: Duration,
    /// The TeX format the child loaded: a template preamble's (`rq-…`), or LaTeX's own
    /// (`latex`) when no format was built for this preamble ([`crate::texformat`]).
    pub tex_format: String,
}

/// The layers `REPORTQ_REQUIRE_SANDBOX` names that this machine's children do not get.
fn missing_layers<'a>(cfg: &'a RenderConfig, sandbox: &Layers) -> Vec<&'a str> {
    cfg.require_layers.iter().copied().filter(|l| !sandbox.has(l)).collect()
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
    /// The layers a child gets on this machine (probed once at start), and why each held or not.
    sandbox: Layers,
    /// The children's fontconfig configuration: empty, so no system font is looked up.
    font_config: PathBuf,
    /// The bundle's `SHA256SUM`, read once: what `a-3` reports' provenance names.
    bundle_sha256: String,
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
        if let Err(e) = sandbox::hide_from_children() {
            // Lambda refuses prctl: recorded, and the credentials are not in the environment to
            // be read (sandbox::credentials), which is what this flag protected.
            tracing::warn!(error = %e, "prctl(PR_SET_DUMPABLE, 0) refused: this process stays readable by its children's user");
        }
        let font_config = sandbox::empty_font_config(&cfg.tmp_dir)?;
        let sandbox = probe_sandbox(&exe);
        let missing = missing_layers(&cfg, &sandbox);
        if !missing.is_empty() {
            tracing::error!(
                sandbox = sandbox.summary(),
                notes = sandbox.notes.join("; "),
                missing = missing.join("+"),
                "REPORTQ_REQUIRE_SANDBOX names layers this machine does not give: every render will be refused"
            );
        } else {
            tracing::debug!(sandbox = sandbox.summary(), notes = sandbox.notes.join("; "), "TeX children are confined");
        }
        let bundle_sha256 = std::fs::read_to_string(cfg.bundle.join("SHA256SUM")).map_err(|e| bad(format!("SHA256SUM: {e}")))?.trim().to_string();
        Ok(Self { cfg, exe, format_dir, sandbox, font_config, bundle_sha256, running: Mutex::new(0), freed: Condvar::new() })
    }

    /// What confines the TeX children here (`io+seccomp+landlock`, or `io` where the kernel
    /// layers are refused).
    pub fn sandbox(&self) -> String {
        self.sandbox.summary()
    }

    /// Each layer's attempt: what held, and what refused the others.
    pub fn sandbox_notes(&self) -> &[String] {
        &self.sandbox.notes
    }

    pub fn config(&self) -> &RenderConfig {
        &self.cfg
    }

    /// Renders a validated request to PDF bytes.
    pub fn render(&self, req: &ReportRequest, ctx: &RenderContext) -> Result<Rendered, RenderError> {
        self.refuse_without_required_layers()?;
        let asked = Instant::now();
        let prepared = template::prepare(&req.params, ctx)?;
        let mut r = self.render_in_slot(&prepared, ctx, asked)?;
        if ctx.pdf.carries_provenance() {
            r.pdf = self.attach_provenance(std::mem::take(&mut r.pdf), req, ctx, &r)?;
        }
        Ok(r)
    }

    /// An `a-3` report's request and provenance, appended to what TeX wrote.
    fn attach_provenance(&self, pdf: Vec<u8>, req: &ReportRequest, ctx: &RenderContext, r: &Rendered) -> Result<Vec<u8>, RenderError> {
        let source =
            ctx.source.as_ref().ok_or_else(|| RenderError::Provenance(format!("{} embeds the request, and none was given", ctx.pdf.as_str())))?;
        let template = req.template_name();
        let made = crate::provenance::Made {
            template,
            standard: ctx.pdf,
            bundle_sha256: &self.bundle_sha256,
            tex_format: &r.tex_format,
            confinement: &r.sandbox,
            network_sha256: ctx.scorer.as_ref().filter(|_| template == "diagram").and_then(|s| s.source_sha256()),
            job_id: source.job_id,
            epoch: ctx.date.epoch,
        };
        crate::provenance::embed(pdf, &source.request, &made).map_err(RenderError::Provenance)
    }

    /// The TeX bundle's digest (`SHA256SUM`).
    pub fn bundle_sha256(&self) -> &str {
        &self.bundle_sha256
    }

    /// Runs TeX on an already prepared document (tests use it to feed documents no user can).
    pub fn render_prepared(&self, p: &Prepared, ctx: &RenderContext) -> Result<Rendered, RenderError> {
        self.refuse_without_required_layers()?;
        self.render_in_slot(p, ctx, Instant::now())
    }

    /// Fail closed on the operator's word: a layer `REPORTQ_REQUIRE_SANDBOX` names that this
    /// machine does not give refuses the render (a transient error: the job is retried).
    fn refuse_without_required_layers(&self) -> Result<(), RenderError> {
        let missing = missing_layers(&self.cfg, &self.sandbox);
        if !missing.is_empty() {
            return Err(RenderError::SandboxUnavailable(format!(
                "{} required, this machine gives {} ({})",
                missing.join("+"),
                self.sandbox.summary(),
                self.sandbox.notes.join("; ")
            )));
        }
        Ok(())
    }

    fn render_in_slot(&self, p: &Prepared, ctx: &RenderContext, asked: Instant) -> Result<Rendered, RenderError> {
        let _slot = self.slot(ctx.lane);
        let slot_wait = asked.elapsed();
        // The job's files go to the child over its pipe, never to disk: no other job's files
        // are anywhere a document could name, and nothing is left behind.
        let mut inputs = p.assets.clone();
        inputs.push(("doc.xmpdata".into(), template::xmpdata(&p.meta, ctx).into_bytes()));
        let plan = crate::texformat::plan(&self.cfg.bundle, &p.tex, self.cfg.preload);
        let run = TexRun { format: plan.format, passes: plan.passes, epoch: ctx.date.epoch as u64, lane: ctx.lane, host_io: false };
        let out = self.run_child(&inputs, plan.text, &run);
        let mut r = out.result?;
        r.slot_wait = slot_wait;
        Ok(r)
    }

    /// Runs a raw TeX document through the same confined child a render uses (`reportq tex-run`:
    /// template authors, and the hostile-TeX tests, which must reach the engine unescaped).
    /// The plan (format, passes) is the one a render of this text would get, unless `format`
    /// or `passes` say otherwise.
    pub fn run_tex(&self, tex: &str, inputs: &[(String, Vec<u8>)], opts: TexRunOptions) -> TexOutcome {
        if let Err(e) = self.refuse_without_required_layers() {
            return TexOutcome { result: Err(e), log: String::new(), sandbox: self.sandbox(), notes: self.sandbox.notes.join("; ") };
        }
        let _slot = self.slot(Lane::Interactive);
        let plan = crate::texformat::plan(&self.cfg.bundle, tex, self.cfg.preload);
        let text = if opts.format.is_some() { tex } else { plan.text };
        let run = TexRun {
            format: opts.format.unwrap_or(plan.format),
            passes: opts.passes.unwrap_or(plan.passes),
            epoch: opts.epoch,
            lane: Lane::Interactive,
            host_io: opts.host_io,
        };
        self.run_child(inputs, text, &run)
    }

    /// Waits for a render slot. Interactive renders may use one slot beyond the limit, so a
    /// person's report starts at once even while bulk renders fill the rest.
    fn slot(&self, lane: Lane) -> SlotGuard<'_> {
        let limit = match lane {
            Lane::Interactive => self.cfg.concurrency + 1,
            Lane::Bulk => self.cfg.concurrency,
        };
        let mut n = self.running.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= limit {
            n = self.freed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        SlotGuard(self)
    }

    fn run_child(&self, inputs: &[(String, Vec<u8>)], tex: &str, run: &TexRun) -> TexOutcome {
        let mut out =
            TexOutcome { result: Err(RenderError::Child("not started".into())), log: String::new(), sandbox: String::new(), notes: String::new() };
        // The configuration is re-made if something removed it: a missing one would make
        // fontconfig fall back to the system's fonts.
        let font_config = match self.font_config.is_file() {
            true => self.font_config.clone(),
            false => match sandbox::empty_font_config(&self.cfg.tmp_dir) {
                Ok(p) => p,
                Err(e) => {
                    out.result = Err(RenderError::Io(e));
                    return out;
                }
            },
        };
        let mut cmd = Command::new(&self.exe);
        cmd.arg(sandbox::CHILD_ARG)
            .arg(&self.cfg.bundle)
            .arg(&self.format_dir)
            .arg(run.epoch.to_string())
            .arg(&run.format)
            .arg(run.passes.to_string());
        if run.host_io {
            cmd.arg(sandbox::HOST_IO_ARG);
        }
        cmd.env_clear()
            .env("FONTCONFIG_FILE", &font_config)
            .env(sandbox::REQUIRE_ENV, self.cfg.require_layers.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .current_dir(&self.cfg.tmp_dir);
        let nice = match run.lane {
            Lane::Interactive => 0,
            Lane::Bulk => BULK_NICE,
        };
        sandbox::limit_child(&mut cmd, self.cfg.memory_mb, self.cfg.timeout, nice);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                out.result = Err(RenderError::Child(format!("cannot start {}: {e}", self.exe.display())));
                return out;
            }
        };
        let pid = child.id();
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let tex = sandbox::encode_input(inputs, tex.as_bytes());
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
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                out.result = Err(RenderError::Io(e));
                return out;
            }
            Err(_) => {
                // The waiter has not reaped the child, so the pid is still ours to kill.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                let _ = waiter.join();
                let _ = (feeder.join(), out_reader.join(), err_reader.join());
                out.result = Err(RenderError::Timeout(self.cfg.timeout));
                return out;
            }
        };
        let _ = waiter.join();
        let _ = feeder.join();
        let stdout = out_reader.join().unwrap_or_default();
        let err = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
        let reply = sandbox::Reply::decode(&stdout);
        out.sandbox = err.lines().find_map(|l| l.strip_prefix(sandbox::LAYERS_LINE)).unwrap_or("unknown").to_string();
        out.notes = err.lines().find_map(|l| l.strip_prefix(sandbox::NOTES_LINE)).unwrap_or_default().to_string();
        if let Some(r) = &reply {
            out.log = r.log.clone();
        }
        out.result = self.judge(reply, status, &err, &out.sandbox, &run.format);
        out
    }

    /// The render's result from the child's reply and exit.
    fn judge(
        &self,
        reply: Option<sandbox::Reply>,
        status: std::process::ExitStatus,
        err: &str,
        sandbox_note: &str,
        format: &str,
    ) -> Result<Rendered, RenderError> {
        let memory_hint = |s: &str| {
            let s = s.to_ascii_lowercase();
            // Rust's "memory allocation of N bytes failed", XeTeX's "xrealloc() to N bytes failed".
            (s.contains("alloc") && s.contains("fail")) || s.contains("out of memory") || s.contains("cannot allocate")
        };
        match reply {
            Some(r) if status.success() && r.error.is_empty() => {
                Ok(Rendered { pdf: r.pdf, log: r.log, sandbox: sandbox_note.to_string(), slot_wait: Duration::ZERO, tex_format: format.to_string() })
            }
            Some(r) if r.error.starts_with(sandbox::REFUSED) => Err(RenderError::SandboxUnavailable(r.error)),
            Some(r) if !r.error.is_empty() => {
                if memory_hint(&r.error) {
                    return Err(RenderError::Memory(self.cfg.memory_mb));
                }
                Err(RenderError::Tex { message: r.error, log_excerpt: log_excerpt(&r.log) })
            }
            _ => {
                use std::os::unix::process::ExitStatusExt;
                if memory_hint(err) || status.signal() == Some(libc::SIGABRT) || status.signal() == Some(libc::SIGSEGV) {
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

/// Runs `exe __tex-child --probe`: the layers a child gets here, before any render.
fn probe_sandbox(exe: &Path) -> Layers {
    let failed = |why: String| Layers { held: vec![], notes: vec![why] };
    match Command::new(exe).arg(sandbox::CHILD_ARG).arg(sandbox::PROBE_ARG).env_clear().stdin(Stdio::null()).stderr(Stdio::null()).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let held = lines.next().unwrap_or_default();
            let held = [sandbox::kernel::IO, sandbox::kernel::SECCOMP, sandbox::kernel::LANDLOCK]
                .into_iter()
                .filter(|l| held.split('+').any(|h| h == *l))
                .collect();
            Layers { held, notes: lines.next().unwrap_or_default().split("; ").map(String::from).collect() }
        }
        Ok(out) => failed(format!("the sandbox probe failed ({})", out.status)),
        Err(e) => failed(format!("the sandbox probe could not start: {e}")),
    }
}

/// One child run's settings.
struct TexRun {
    format: String,
    passes: u8,
    epoch: u64,
    lane: Lane,
    host_io: bool,
}

/// What `reportq tex-run` may change about a raw document's run.
#[derive(Debug, Clone, Default)]
pub struct TexRunOptions {
    /// The format to load (default: the one a render of this text would load).
    pub format: Option<String>,
    /// TeX passes (default: 2 for tagged documents, else 1).
    pub passes: Option<u8>,
    /// The engines' clock, seconds since 1970.
    pub epoch: u64,
    /// The engines on the host file system instead of the allow-list: the negative control of
    /// the hostile-TeX tests, never a render's.
    pub host_io: bool,
}

/// A raw run's result, with the whole TeX log and the layers whatever happened.
#[derive(Debug)]
pub struct TexOutcome {
    pub result: Result<Rendered, RenderError>,
    pub log: String,
    /// `io+seccomp+landlock`, as the child reported it.
    pub sandbox: String,
    /// Each layer's attempt, as the child reported it.
    pub notes: String,
}

struct SlotGuard<'a>(&'a Renderer);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut n = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        self.0.freed.notify_all();
    }
}

pub use crate::latex::log_excerpt;
