//! Settings from the environment, read in one place, with defaults that work on a laptop.

use std::path::PathBuf;
use std::time::Duration;

/// Where a deployed image keeps the bundle (the Dockerfile puts it there).
pub const IMAGE_BUNDLE: &str = "/opt/reportq/tex-bundle";

/// Rendering settings.
#[derive(Debug, Clone)]
pub struct RenderConfig {
    /// The flat TeX bundle folder, with the pre-built format in `format/`
    /// (`REPORTQ_TEX_BUNDLE`; default `/opt/reportq/tex-bundle` if present, else
    /// `~/.cache/reportq/tex-bundle`, where `scripts/tex-bundle.sh` puts it).
    pub bundle: PathBuf,
    /// Wall-clock limit of one TeX run (`REPORTQ_RENDER_TIMEOUT_SECS`, default 60).
    pub timeout: Duration,
    /// Address-space cap of the TeX child process in MiB (`REPORTQ_RENDER_MEMORY_MB`, default 1024).
    pub memory_mb: u64,
    /// TeX child processes at once per process (`REPORTQ_RENDER_CONCURRENCY`, default: cores).
    pub concurrency: usize,
    /// The executable that runs the TeX child (`REPORTQ_TEX_CHILD`; default: this executable,
    /// which every reportq binary is).
    pub child_exe: Option<PathBuf>,
    /// Parent of the per-render job folders: `$TMPDIR` or `/tmp`, the one writable place on Lambda.
    pub tmp_dir: PathBuf,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| format!("{name}={v:?} is not a valid value")),
    }
}

impl RenderConfig {
    pub fn from_env() -> Result<Self, String> {
        let bundle = match var("REPORTQ_TEX_BUNDLE") {
            Some(p) => PathBuf::from(p),
            None => default_bundle(),
        };
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let timeout = parse("REPORTQ_RENDER_TIMEOUT_SECS", 60.0f64)?;
        if !(timeout > 0.0 && timeout < 86_400.0) {
            return Err("REPORTQ_RENDER_TIMEOUT_SECS must be between 0 and 86400".into());
        }
        Ok(Self {
            bundle,
            timeout: Duration::from_secs_f64(timeout),
            memory_mb: parse("REPORTQ_RENDER_MEMORY_MB", 1024)?,
            concurrency: parse("REPORTQ_RENDER_CONCURRENCY", cores)?.max(1),
            child_exe: var("REPORTQ_TEX_CHILD").map(PathBuf::from),
            tmp_dir: std::env::temp_dir(),
        })
    }
}

pub fn default_bundle() -> PathBuf {
    if std::path::Path::new(IMAGE_BUNDLE).is_dir() {
        return PathBuf::from(IMAGE_BUNDLE);
    }
    let home = var("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache/reportq/tex-bundle")
}

/// The job pipeline's settings: where jobs live (S3 bucket), where they are sent (SQS queue),
/// and the limits the API and worker keep. AWS itself (endpoint, region, credentials) is
/// configured by the SDK's standard variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, ...), read by [`crate::aws::clients`].
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// `REPORTQ_BUCKET` (default `reportq-local`, what `scripts/localstack.sh` creates).
    pub bucket: String,
    /// `REPORTQ_QUEUE_URL`; default: the `reportq-jobs` queue at `AWS_ENDPOINT_URL`, when one is
    /// set (LocalStack's path-style URL).
    pub queue_url: Option<String>,
    /// How long a presigned download URL lives (`REPORTQ_URL_EXPIRY_SECS`, default 900).
    pub url_expiry: Duration,
    /// How long `POST /api/report/pdf` waits for its job before answering 202
    /// (`REPORTQ_PDF_WAIT_SECS`, default 20: well inside API Gateway's 30 s).
    pub pdf_wait: Duration,
    /// The worker's limit for one job, fetch to status write (`REPORTQ_JOB_DEADLINE_SECS`, default
    /// 120). Must be below the queue's visibility timeout, or a slow job is handed to a second
    /// worker while the first still runs.
    pub job_deadline: Duration,
    /// Deliveries before SQS moves a message to the DLQ (`REPORTQ_MAX_RECEIVE_COUNT`, default 5;
    /// must match the queue's redrive policy). On the last one a job that still fails for a
    /// transient reason is marked `failed`, so pollers stop waiting.
    pub max_receive_count: u32,
    /// Largest body of one request (`REPORTQ_MAX_REQUEST_BYTES`, default 1 MiB).
    pub max_request_bytes: usize,
    /// Largest body of a batch (`REPORTQ_MAX_BATCH_BYTES`, default 6 MiB: Lambda's own limit for
    /// a synchronous invocation's payload).
    pub max_batch_bytes: usize,
    /// Origins allowed to call the API from a browser (`REPORTQ_CORS_ORIGINS`, comma-separated,
    /// `*` for any; default none).
    pub cors_origins: Vec<String>,
    /// The DiAGRAM network (BIF) for the scoring routes (`REPORTQ_DIAGRAM_MODEL`; without it the
    /// scoring routes answer 503).
    pub diagram_model: Option<PathBuf>,
    /// Where `reportq serve` listens (`REPORTQ_LISTEN`, default `127.0.0.1:8080`).
    pub listen: String,
    /// Jobs one worker process runs at once (`REPORTQ_WORKER_CONCURRENCY`, default: cores).
    pub worker_concurrency: usize,
    /// Long-poll wait of `reportq worker` (`REPORTQ_POLL_WAIT_SECS`, default 20, at most 20).
    pub poll_wait: Duration,
}

/// The most requests one `POST /v1/reports/batch` takes.
pub const MAX_BATCH: usize = 1000;

fn secs(name: &str, default: f64, lo: f64, hi: f64) -> Result<Duration, String> {
    let v = parse(name, default)?;
    if !(v >= lo && v <= hi) {
        return Err(format!("{name} must be between {lo} and {hi} seconds (it is {v})"));
    }
    Ok(Duration::from_secs_f64(v))
}

impl PipelineConfig {
    pub fn from_env() -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).unwrap_or_else(|| "us-east-1".into());
        let queue_url = var("REPORTQ_QUEUE_URL").or_else(|| {
            var("AWS_ENDPOINT_URL")
                .map(|e| format!("{}/queue/{region}/000000000000/reportq-jobs", e.trim_end_matches('/')))
        });
        let cfg = Self {
            bucket: var("REPORTQ_BUCKET").unwrap_or_else(|| "reportq-local".into()),
            queue_url,
            // SigV4 presigned URLs cannot outlive 7 days.
            url_expiry: secs("REPORTQ_URL_EXPIRY_SECS", 900.0, 1.0, 604_800.0)?,
            pdf_wait: secs("REPORTQ_PDF_WAIT_SECS", 20.0, 0.0, 28.0)?,
            job_deadline: secs("REPORTQ_JOB_DEADLINE_SECS", 120.0, 1.0, 43_200.0)?,
            max_receive_count: parse("REPORTQ_MAX_RECEIVE_COUNT", 5u32)?.max(1),
            max_request_bytes: parse("REPORTQ_MAX_REQUEST_BYTES", 1usize << 20)?,
            max_batch_bytes: parse("REPORTQ_MAX_BATCH_BYTES", 6usize << 20)?,
            cors_origins: var("REPORTQ_CORS_ORIGINS")
                .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
            diagram_model: var("REPORTQ_DIAGRAM_MODEL").map(PathBuf::from),
            listen: var("REPORTQ_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into()),
            worker_concurrency: parse("REPORTQ_WORKER_CONCURRENCY", cores)?.max(1),
            poll_wait: secs("REPORTQ_POLL_WAIT_SECS", 20.0, 0.0, 20.0)?,
        };
        Ok(cfg)
    }

    pub fn queue_url(&self) -> Result<&str, String> {
        self.queue_url
            .as_deref()
            .ok_or_else(|| "REPORTQ_QUEUE_URL is not set (nor AWS_ENDPOINT_URL, from which a local default is made)".into())
    }
}
