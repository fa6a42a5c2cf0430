//! The `reportq` command line: render reports locally, list templates, prepare the TeX bundle.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};

use std::sync::Arc;

use reportq::config::RenderConfig;
use reportq::scoring::Diagram;
use reportq::template::{self, Date, RenderContext};
use reportq::{Renderer, ReportRequest};

#[derive(Parser)]
#[command(name = "reportq", version, about = "Parameterised PDF reports, rendered offline with Tectonic", long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Render one request file to a PDF (or its chart as PNG, or its data as CSV).
    ///
    /// REQUEST.json is {"template": NAME, "params": {...}, "pdf": {"standard": "a-2a"}}; see
    /// `reportq templates` for each template's parameters and examples/ for whole requests.
    Render {
        /// The request file ("-" reads standard input).
        request: PathBuf,
        /// Where to write the output ("-" writes standard output).
        #[arg(short, long, default_value = "report.pdf")]
        output: PathBuf,
        /// What to produce from the request.
        #[arg(short, long, value_enum, default_value_t = Format::Pdf)]
        format: Format,
        /// The report's date as seconds since 1970 (default: now). The same request and date
        /// give the same bytes.
        #[arg(long, env = "SOURCE_DATE_EPOCH")]
        epoch: Option<i64>,
        /// A DiAGRAM network (BIF): adds "Where to improve first" to `diagram` reports.
        #[arg(long, env = "REPORTQ_DIAGRAM_MODEL")]
        model: Option<PathBuf>,
    },
    /// Score DiAGRAM model objects with a Bayesian network, as `POST /api/model/score` does.
    ///
    /// MODEL.json holds one model object or an array of them; the answer is the same JSON
    /// the API gives: {intellectual_control, renderability, nodes} (an array for an array).
    Score {
        /// The model file ("-" reads standard input).
        input: PathBuf,
        /// The network file (BIF); scripts/fetch-diagram-model.sh downloads DiAGRAM's.
        #[arg(long, env = "REPORTQ_DIAGRAM_MODEL")]
        model: Option<PathBuf>,
        /// Print each model's best single changes, ranked, instead of its scores.
        #[arg(long)]
        improvements: bool,
    },
    /// List the templates and their parameters.
    Templates {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check the TeX bundle and build its format file (once, at build or deploy time).
    Setup,
    /// Run a raw TeX document through the same confined child a render uses.
    ///
    /// For template authors (the log shows what the I/O allow-list refused) and for checking
    /// the confinement itself: the document reaches the engine as written, unescaped. Prints
    /// the layers that held (`sandbox: io+seccomp+landlock`) on stderr.
    TexRun {
        /// The document ("-" reads standard input).
        input: PathBuf,
        /// Where to write the PDF ("-" writes standard output).
        #[arg(short, long, default_value = "out.pdf")]
        output: PathBuf,
        /// A file the document may include by its plain name (PATH, or NAME=PATH); sent to the
        /// child in memory like a render's charts. Repeatable.
        #[arg(long = "file")]
        files: Vec<String>,
        /// The format to load (default: the one a render of this text would load).
        #[arg(long)]
        format: Option<String>,
        /// TeX passes (default: 2 for a tagged document, else 1).
        #[arg(long)]
        passes: Option<u8>,
        /// The engines' clock as seconds since 1970.
        #[arg(long, default_value_t = 0)]
        epoch: u64,
        /// Write TeX's whole log here (also on failure).
        #[arg(long)]
        log: Option<PathBuf>,
        /// Tests only: the engines open host files (Tectonic's own driver), the allow-list off.
        #[arg(long, hide = true)]
        host_io: bool,
    },
    /// Measure render times (cold, warm p50/p95, PDF/A vs plain, peak RSS) against xelatex.
    Bench {
        /// Warm renders per template and PDF standard.
        #[arg(long, default_value_t = 20)]
        renders: usize,
        /// New processes timed per template (first render, pre-built format).
        #[arg(long, default_value_t = 5)]
        cold: usize,
        /// TeX-only runs per template, tectonic and xelatex each.
        #[arg(long, default_value_t = 10)]
        xelatex: usize,
        /// Request files to time (default: the two examples).
        requests: Vec<PathBuf>,
    },
    /// Serve the API over plain HTTP (the routes the API Lambda serves), on REPORTQ_LISTEN.
    ///
    /// AWS comes from AWS_ENDPOINT_URL, AWS_REGION and the usual credentials; the bucket and
    /// queue from REPORTQ_BUCKET and REPORTQ_QUEUE_URL (`scripts/dev.sh` sets them all).
    Serve {
        /// Address to listen on (default: REPORTQ_LISTEN, else 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Long-poll the job queue and run each job through the worker Lambda's handler.
    Worker,
    /// Mark jobs whose queue message can no longer arrive `failed` (`expired`), once (the
    /// template runs this hourly on the worker function).
    Sweep,
    /// Submit report requests to a reportq API and (with --wait) fetch the PDFs.
    Submit {
        /// A request file; with --batch, a folder of *.json requests or a JSONL file.
        input: PathBuf,
        /// The input is a batch (folder or JSONL), sent in batches of up to 1,000.
        #[arg(long)]
        batch: bool,
        /// Wait for the jobs to finish and download the PDFs.
        #[arg(long)]
        wait: bool,
        /// Where to save: the PDF (single request; default: the name the API gives) or a
        /// folder (batch; default reports/).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The API's base URL.
        #[arg(long, env = "REPORTQ_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
        /// The API key, for a deployment with REPORTQ_AUTH=keys.
        #[arg(long, env = "REPORTQ_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
    },
    /// Make, list and revoke API keys (kept in the bucket, REPORTQ_BUCKET, as hashes).
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// Webhooks: check a delivery's signature, or make a signing secret.
    Webhook {
        #[command(subcommand)]
        cmd: WebhookCmd,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Make a key and print it, once: only its hash is stored.
    Create {
        /// What the key is for (shown by `keys list`).
        #[arg(long)]
        name: String,
        /// What it may do: submit, read, score (comma-separated).
        #[arg(long, default_value = "submit,read")]
        scopes: String,
        /// Reports it may submit per UTC day (a batch counts each report); default: no limit.
        #[arg(long)]
        quota: Option<u64>,
    },
    /// List every key: id, name, scopes, quota, today's use, created, revoked.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id (the 12 hex digits after `rq_`); it stops working within 30 s.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum WebhookCmd {
    /// Check a delivery the way a receiver should: exit 0 if a signature matches.
    ///
    /// The body is read from --body-file or standard input, byte for byte.
    Verify {
        /// The signing secret (whsec_...).
        #[arg(long, env = "REPORTQ_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// The webhook-id header.
        #[arg(long)]
        id: String,
        /// The webhook-timestamp header.
        #[arg(long)]
        timestamp: i64,
        /// The webhook-signature header (one or more space-separated v1,... signatures).
        #[arg(long)]
        signature: String,
        /// The body as received ("-" or absent: standard input).
        #[arg(long)]
        body_file: Option<PathBuf>,
        /// Refuse a timestamp further than this many seconds from now (0: do not check).
        #[arg(long, default_value_t = 300)]
        tolerance: i64,
    },
    /// Print a new random signing secret (whsec_...), for REPORTQ_WEBHOOK_SECRETS.
    Secret,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Pdf,
    Png,
    Csv,
    /// The generated LaTeX (for debugging templates; charts are not written).
    Tex,
}

fn main() -> ExitCode {
    reportq::sandbox::maybe_run_child();
    // Before any thread: the credentials leave the environment a TeX child could read.
    // SAFETY: no thread has started yet.
    unsafe { reportq::sandbox::credentials::take_from_environment() };
    reportq::logging::init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The one line a user reads when a command fails: plain text, not a log event.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res = Result<(), Box<dyn std::error::Error>>;

fn run(cli: Cli) -> Res {
    match cli.cmd {
        Cmd::Render { request, output, format, epoch, model } => render(request, output, format, epoch, model),
        Cmd::Score { input, model, improvements } => score(input, model, improvements),
        Cmd::Templates { json } => {
            let all = template::all();
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(());
            }
            for t in all {
                println!("{}\n  {}\n  params:", t.name, t.description);
                for p in t.params {
                    let req = if p.required { "required" } else { "optional" };
                    println!("    {:<14} {} ({req})\n    {:<14} {}", p.name, p.kind, "", p.description);
                }
                println!();
            }
            Ok(())
        }
        Cmd::Setup => setup(),
        Cmd::TexRun { input, output, files, format, passes, epoch, log, host_io } => {
            let tex = read_input(&input).map_err(|e| format!("reading {}: {e}", input.display()))?;
            let tex = String::from_utf8(tex).map_err(|_| format!("{}: not UTF-8", input.display()))?;
            let mut inputs = Vec::new();
            for f in files {
                let (name, path) = match f.split_once('=') {
                    Some((n, p)) => (n.to_string(), PathBuf::from(p)),
                    None => {
                        let p = PathBuf::from(&f);
                        (p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), p)
                    }
                };
                if !reportq::sandbox::io::plain_name(&name) {
                    return Err(format!("--file {f}: {name:?} is not a plain file name").into());
                }
                inputs.push((name, std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?));
            }
            let renderer = Renderer::new(RenderConfig::from_env()?)?;
            let opts = reportq::render::TexRunOptions { format, passes, epoch, host_io };
            let out = renderer.run_tex(&tex, &inputs, opts);
            eprintln!("sandbox: {}", out.sandbox);
            eprintln!("sandbox-notes: {}", out.notes);
            if let Some(path) = log {
                std::fs::write(&path, &out.log).map_err(|e| format!("writing {}: {e}", path.display()))?;
            }
            let r = out.result?;
            write_output(&output, &r.pdf)?;
            if output.as_os_str() != "-" {
                eprintln!("wrote {} ({} bytes)", output.display(), r.pdf.len());
            }
            Ok(())
        }
        Cmd::Bench { renders, cold, xelatex, requests } => {
            let cfg = RenderConfig::from_env()?;
            let renderer = Renderer::new(cfg.clone())?;
            let whole = Renderer::new(RenderConfig { preload: false, ..cfg })?;
            let examples = if requests.is_empty() {
                let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
                vec![dir.join("diagram.json"), dir.join("summary.json")]
            } else {
                requests
            };
            let opts = reportq::bench::Options { renders, cold_runs: cold, xelatex_runs: xelatex, examples };
            reportq::bench::run(&renderer, &whole, &opts)
        }
        Cmd::Serve { listen } => runtime()?.block_on(serve(listen)),
        Cmd::Worker => runtime()?.block_on(worker()),
        Cmd::Sweep => runtime()?.block_on(async {
            // Only the bucket (and the delivery queue): a sweep needs no TeX bundle.
            let cfg = reportq::config::WorkerSettings::from_env()?;
            let (s3, sqs) = reportq::aws::clients().await;
            let store: Arc<dyn reportq::store::JobStore> = Arc::new(reportq::store::S3Store::new(s3, cfg.bucket.clone()));
            let notifier = cfg
                .webhooks
                .queue_url
                .as_ref()
                .map(|u| reportq::webhook::Notifier::new(store.clone(), Arc::new(reportq::queue::SqsQueue::new(sqs, u.clone()))));
            let now = reportq::domain::now_epoch();
            let report = reportq::sweep::sweep(store.as_ref(), now, cfg.job_expiry.as_secs() as i64, notifier.as_ref()).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }),
        Cmd::Submit { input, batch, wait, output, url, timeout, api_key } => {
            let timeout = std::time::Duration::from_secs(timeout);
            let client = reportq::client::Client::with_key(&url, api_key.as_deref())?;
            if batch {
                runtime()?.block_on(submit_batch(client, &input, wait, output, timeout))
            } else {
                runtime()?.block_on(submit_one(client, &input, wait, output, timeout))
            }
        }
        Cmd::Keys { cmd } => runtime()?.block_on(keys(cmd)),
        Cmd::Webhook { cmd: WebhookCmd::Secret } => {
            println!("{}", reportq::domain::webhook::Secret::generate());
            Ok(())
        }
        Cmd::Webhook { cmd: WebhookCmd::Verify { secret, id, timestamp, signature, body_file, tolerance } } => {
            use reportq::domain::webhook::{Secret, verify};
            let secret = Secret::parse(&secret)?;
            let body = read_input(&body_file.unwrap_or_else(|| PathBuf::from("-")))?;
            let now = (tolerance > 0).then(reportq::domain::now_epoch);
            verify(&secret, &id, timestamp, &signature, &body, now, tolerance)?;
            println!("valid");
            Ok(())
        }
    }
}

/// `reportq keys ...`: the bucket's key records, through the same code the API checks with.
async fn keys(cmd: KeysCmd) -> Res {
    let cfg = reportq::config::ApiSettings::from_env()?;
    let (s3, _) = reportq::aws::clients().await;
    let access = reportq::access::Access::new(cfg.auth, Arc::new(reportq::store::S3Store::new(s3, cfg.bucket.clone())));
    let now = reportq::domain::now_epoch();
    match cmd {
        KeysCmd::Create { name, scopes, quota } => {
            let scopes = reportq::domain::access::Scope::parse_list(&scopes)?;
            let (token, rec) = access.create_key(&name, scopes, quota, now).await?;
            eprintln!("key {} ({}) made; it is shown this once and stored only as a hash:", rec.id, rec.name);
            println!("{token}");
            if cfg.auth != reportq::access::AuthMode::Keys {
                eprintln!("note: REPORTQ_AUTH is {} here; the API checks keys only with REPORTQ_AUTH=keys", cfg.auth.as_str());
            }
        }
        KeysCmd::List { json } => {
            let all = access.list_keys().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &all.iter()
                            .map(|k| serde_json::json!({
                                "id": k.id, "name": k.name, "scopes": k.scopes, "quota_per_day": k.quota_per_day,
                                "created_at": reportq::domain::job::rfc3339(k.created_at_epoch),
                                "revoked_at": k.revoked_at_epoch.map(reportq::domain::job::rfc3339),
                            }))
                            .collect::<Vec<_>>()
                    )?
                );
                return Ok(());
            }
            println!("{:<12}  {:<20}  {:<18}  {:>10}  {:<20}  revoked", "id", "name", "scopes", "today/quota", "created");
            for k in all {
                let scopes = k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
                let used = access.used_today(&k.id, now).await?;
                let quota = k.quota_per_day.map(|q| format!("{used}/{q}")).unwrap_or_else(|| format!("{used}/-"));
                let revoked = k.revoked_at_epoch.map(reportq::domain::job::rfc3339).unwrap_or_default();
                println!(
                    "{:<12}  {:<20}  {:<18}  {:>11}  {:<20}  {revoked}",
                    k.id,
                    k.name,
                    scopes,
                    quota,
                    reportq::domain::job::rfc3339(k.created_at_epoch)
                );
            }
        }
        KeysCmd::Revoke { id } => match access.revoke_key(&id, now).await? {
            Some(k) => eprintln!("key {} ({}) revoked", k.id, k.name),
            None => return Err(format!("no key {id}").into()),
        },
    }
    Ok(())
}

fn read_input(path: &PathBuf) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path)
    }
}

fn write_output(path: &PathBuf, bytes: &[u8]) -> std::io::Result<()> {
    if path.as_os_str() == "-" {
        return std::io::stdout().write_all(bytes);
    }
    // A device, pipe or socket (`-o /dev/null`, a FIFO) is written to as it is: renaming a file
    // over it would replace it (run as root, `-o /dev/null` once turned /dev/null into a
    // regular file).
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::OpenOptions::new().write(true).open(path)?.write_all(bytes);
    }
    // Written beside the target and renamed, so a reader never sees half a PDF.
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The network named on the command line, if any (a named but broken one is an error).
fn load_scorer(model: Option<PathBuf>) -> Result<Option<Arc<Diagram>>, reportq::scoring::NetworkError> {
    model.map(|p| reportq::scoring::load(Some(&p))).transpose()
}

fn score(input: PathBuf, model: Option<PathBuf>, improvements: bool) -> Res {
    let scorer = load_scorer(model)?.ok_or(reportq::scoring::NetworkError::NotConfigured)?;
    let bytes = read_input(&input).map_err(|e| format!("reading {}: {e}", input.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", input.display()))?;
    let one = |m: &serde_json::Value| -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        Ok(if improvements { serde_json::to_value(scorer.improvements_value(m)?)? } else { serde_json::to_value(scorer.score_value(m)?)? })
    };
    let out = match &value {
        serde_json::Value::Array(models) => serde_json::Value::Array(models.iter().map(one).collect::<Result<_, _>>()?),
        m => one(m)?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn render(request: PathBuf, output: PathBuf, format: Format, epoch: Option<i64>, model: Option<PathBuf>) -> Res {
    let bytes = read_input(&request).map_err(|e| format!("reading {}: {e}", request.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", request.display()))?;
    let scorer = load_scorer(model)?;
    let req = ReportRequest::parse(&value, scorer.as_deref()).map_err(|e| format!("{}: {e}", request.display()))?;
    let t = Instant::now();
    let out = match format {
        Format::Csv => template::csv(&req.params).into_bytes(),
        Format::Png => template::chart_png(&req.params)?,
        Format::Tex => {
            let ctx = RenderContext::new(epoch.map(Date::from_epoch).unwrap_or_else(Date::now), req.pdf.standard);
            template::prepare(&req.params, &ctx)?.tex.into_bytes()
        }
        Format::Pdf => {
            let renderer = Renderer::new(RenderConfig::from_env()?)?;
            let date = epoch.map(Date::from_epoch).unwrap_or_else(Date::now);
            let ctx = RenderContext::new(date, req.pdf.standard).with_scorer(scorer);
            renderer.render(&req, &ctx)?.pdf
        }
    };
    write_output(&output, &out)?;
    if output.as_os_str() != "-" {
        eprintln!("wrote {} ({} bytes, {} template) in {:.2?}", output.display(), out.len(), req.template_name(), t.elapsed());
    }
    Ok(())
}

fn setup() -> Res {
    let cfg = RenderConfig::from_env()?;
    eprintln!("TeX bundle: {}", cfg.bundle.display());
    let formats = reportq::setup::build_formats(&cfg.bundle)?;
    for f in &formats.built {
        match f.took {
            Some(took) => eprintln!("built the {} format ({}) in {took:.2?}", f.name, f.what),
            None => eprintln!("the {} format ({}) is already built", f.name, f.what),
        }
    }
    for name in &formats.removed {
        eprintln!("removed {name}: no template preamble uses it any more");
    }
    // One confined render proves the whole path (bundle, format, child, sandbox) works here.
    let renderer = Renderer::new(cfg)?;
    let req = ReportRequest::from_slice(include_bytes!("../examples/summary.json"))?;
    let t = Instant::now();
    let r = renderer.render(&req, &RenderContext::new(Date::now(), req.pdf.standard))?;
    eprintln!("check render: {} bytes in {:.2?}; sandbox: {}", r.pdf.len(), t.elapsed(), r.sandbox);
    Ok(())
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// Ctrl-C or SIGTERM (what process managers and `scripts/dev.sh` send).
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term => {} }
}

async fn serve(listen: Option<String>) -> Res {
    let state = reportq::api::ApiState::from_env().await?;
    let addr = listen.unwrap_or_else(|| state.cfg.listen.clone());
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(addr = %listener.local_addr()?, bucket = state.cfg.bucket, queue = state.cfg.queue_url, "reportq API listening");
    reportq::api::serve(state, listener, shutdown_signal()).await?;
    Ok(())
}

async fn worker() -> Res {
    let (worker, queues) = reportq::worker::Worker::from_env().await?;
    let interactive = queues.interactive.as_ref().map(|q| q.url().to_string()).unwrap_or_else(|| "none (shares the bulk queue)".into());
    tracing::info!(queue = queues.bulk.url(), interactive_queue = interactive, "reportq worker polling");
    // A job that can outlive its message's invisibility is handed to a second worker while
    // the first still runs it: say so at start rather than in a confusing log later.
    for queue in std::iter::once(&queues.bulk).chain(queues.interactive.as_ref()) {
        if let Ok(Some(v)) = queue.visibility_timeout().await {
            let deadline = worker.settings().job_deadline;
            if v <= deadline {
                tracing::warn!(queue = queue.url(), visibility = ?v, deadline = ?deadline, "the queue's visibility timeout is not above REPORTQ_JOB_DEADLINE_SECS");
            }
        }
    }
    if let Some(addr) = worker.settings().metrics_listen.clone() {
        // A second worker on the same machine finds the port taken: it works on, unscraped.
        match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => {
                tracing::info!(addr = %l.local_addr()?, "worker metrics on /metrics");
                tokio::spawn(reportq::api::serve_metrics(l));
            }
            Err(e) => tracing::warn!(addr, error = %e, "worker metrics not served"),
        }
    }
    // Webhook deliveries in a loop of their own: a receiver that hangs holds a delivery
    // slot, never a render slot.
    let deliveries = async {
        if let (Some(q), Some(d)) = (&queues.webhooks, worker.deliverer()) {
            tracing::info!(queue = q.url(), "delivering webhooks");
            d.run(q, 16, worker.settings().poll_wait, shutdown_signal()).await;
        }
    };
    futures::join!(worker.run(&queues, shutdown_signal()), deliveries);
    Ok(())
}

async fn submit_one(client: reportq::client::Client, input: &PathBuf, wait: bool, output: Option<PathBuf>, timeout: std::time::Duration) -> Res {
    let text = std::fs::read_to_string(input).map_err(|e| format!("reading {}: {e}", input.display()))?;
    let request: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", input.display()))?;
    let submitted = client.submit(&request).await?;
    let id = submitted.job_id;
    if !wait {
        println!("{}", serde_json::to_string_pretty(&submitted)?);
        return Ok(());
    }
    eprintln!("job {id}");
    let job = client.wait(id, timeout, |s| eprintln!("  {}", s.as_str())).await?;
    let path = output.unwrap_or_else(|| PathBuf::from(job.result.map(|r| r.filename).unwrap_or_else(|| "report.pdf".into())));
    let n = client.download(id, &path).await?;
    eprintln!("wrote {} ({n} bytes)", path.display());
    Ok(())
}

async fn submit_batch(
    client: reportq::client::Client,
    input: &std::path::Path,
    wait: bool,
    output: Option<PathBuf>,
    timeout: std::time::Duration,
) -> Res {
    let items = reportq::client::read_batch(input)?;
    if items.is_empty() {
        return Err(format!("{}: no requests found", input.display()).into());
    }
    let dir = wait.then(|| output.unwrap_or_else(|| PathBuf::from("reports")));
    let run = client.run_batch(&items, dir.as_deref(), timeout).await?;
    let Some(dir) = dir else {
        let jobs: Vec<serde_json::Value> = run.jobs.iter().map(|(s, id)| serde_json::json!({"name": s, "job_id": id})).collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "batches": run.batches, "jobs": jobs }))?);
        return Ok(());
    };
    eprintln!("{} PDFs in {}; {} failed", run.jobs.len() - run.failed.len(), dir.display(), run.failed.len());
    for f in &run.failed {
        eprintln!("  {f}");
    }
    if run.failed.is_empty() { Ok(()) } else { Err(format!("{} jobs failed", run.failed.len()).into()) }
}
