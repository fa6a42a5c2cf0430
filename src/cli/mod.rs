//! The `reportq` command line, one file per command family: [`render`] (render, score,
//! setup, tex-run), [`serve`] (serve, worker, sweep), [`submit`], [`keys`] (keys, webhook),
//! [`files`] (reading and writing what the commands take and give).

mod files;
mod keys;
mod render;
mod serve;
mod submit;

use files::*;
use keys::*;
use render::*;
use serve::*;
use std::path::PathBuf;
use submit::*;

use clap::{Parser, Subcommand, ValueEnum};

use reportq::Renderer;
use reportq::config::RenderConfig;
use reportq::scoring::Scorer;
use reportq::template::{self};

#[derive(Parser)]
#[command(name = "reportq", version, about = "Parameterised PDF reports, rendered offline with Tectonic", long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
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
    /// Fan a manifest batch out from this process to its end: what a worker does with the
    /// batch's fan-out message, without the invocation's time limit (to finish a stuck run by
    /// hand; the bulk benchmark). Waits while another process holds the lease.
    Fanout {
        batch: String,
        /// How long this process's lease lasts past its last step.
        #[arg(long, default_value_t = 60)]
        lease: u64,
    },
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
        /// Send the JSONL file as one manifest (presigned upload, fanned out by the workers;
        /// up to 100,000 lines). Automatic for a JSONL file of more than 1,000 lines. With
        /// --wait: a progress bar until every line is final (PDFs are not downloaded).
        #[arg(long, requires = "batch")]
        manifest: bool,
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
    /// Check an a-3a/a-3b report: its embedded request and provenance, TeX's bytes against
    /// the recorded SHA-256, and (--rerender) a new render against them. Exit 0 only when every
    /// check holds.
    Verify {
        /// The PDF.
        pdf: PathBuf,
        /// Render the embedded request again (the recorded date and job) and compare the bytes.
        #[arg(long)]
        rerender: bool,
        /// The DiAGRAM network (.bif) the report was scored with, for --rerender.
        #[arg(long, env = "REPORTQ_DIAGRAM_MODEL")]
        model: Option<PathBuf>,
        /// The certificate (PEM) the report must be signed with; without it a signature is
        /// checked against the certificate it carries.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// Print the result as JSON (as `POST /v1/reports/verify` answers).
        #[arg(long)]
        json: bool,
    },
    /// Report signing: print the signing key's certificate (REPORTQ_SIGNING_KEY), for an
    /// archive to publish and check reports against.
    Signing {
        #[command(subcommand)]
        cmd: SigningCmd,
    },
    /// Webhooks: check a delivery's signature, or make a signing secret.
    Webhook {
        #[command(subcommand)]
        cmd: WebhookCmd,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeysCmd {
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
    /// Give a key a new webhook signing secret and print it, once. Events are signed with the
    /// new and the previous secret until the next rotation, so its receivers can move over.
    RotateWebhookSecret { id: String },
}

#[derive(Subcommand)]
pub(crate) enum WebhookCmd {
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

#[derive(Subcommand)]
pub(crate) enum SigningCmd {
    /// Print the self-signed certificate of REPORTQ_SIGNING_KEY (PEM); the same for the same
    /// key and REPORTQ_SIGNING_NAME wherever it is made.
    Certificate,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Pdf,
    Png,
    Csv,
    /// The generated LaTeX (for debugging templates; charts are not written).
    Tex,
}

pub(crate) type Res = Result<(), Box<dyn std::error::Error>>;

pub(crate) fn run(cli: Cli) -> Res {
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
        Cmd::Fanout { batch, lease } => runtime()?.block_on(fanout(&batch, lease)),
        Cmd::Sweep => runtime()?.block_on(async {
            // Only the bucket (and the delivery queue): a sweep needs no TeX bundle.
            let cfg = reportq::config::WorkerSettings::from_env()?;
            let services = reportq::startup::Services::from_env(&cfg.bucket).await;
            let notifier = services.notifier(&cfg);
            let now = reportq::domain::now_epoch();
            let report = reportq::sweep::sweep(services.store.as_ref(), now, cfg.job_expiry.as_secs() as i64, notifier.as_ref()).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }),
        Cmd::Submit { input, batch, manifest, wait, output, url, timeout, api_key } => {
            let timeout = std::time::Duration::from_secs(timeout);
            let client = reportq::client::Client::with_key(&url, api_key.as_deref())?;
            if batch {
                runtime()?.block_on(submit_batch(client, &input, manifest, wait, output, timeout))
            } else {
                runtime()?.block_on(submit_one(client, &input, wait, output, timeout))
            }
        }
        Cmd::Keys { cmd } => runtime()?.block_on(keys(cmd)),
        Cmd::Verify { pdf, rerender, model, cert, json } => render::verify(pdf, rerender, model, cert, json),
        Cmd::Signing { cmd: SigningCmd::Certificate } => runtime()?.block_on(async {
            let settings = reportq::config::SigningSettings::read(&reportq::config::Env::process())?;
            let signer = reportq::signing::signer(None, &settings)
                .await?
                .ok_or("REPORTQ_SIGNING_KEY is not set: kms:<key id> or the path of an RSA key in PEM")?;
            print!("{}", signer.certificate_pem());
            Ok(())
        }),
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
