//! Settings, read once per process into typed values: [`ApiSettings`] for the API,
//! [`WorkerSettings`] for the worker, [`RenderConfig`] for anything that renders, [`Telemetry`]
//! (logs, metrics, the API image's role) for every binary. Each is read
//! from the environment by the binaries ([`Env::process`]) and built explicitly by tests
//! ([`Env::from_pairs`], or the structs' own fields), never from a developer's shell by accident.

mod signing;
mod telemetry;
mod webhooks;

pub use signing::{SigningKeySpec, SigningSettings};
pub use telemetry::{LogFormat, MetricsMode, Role, Telemetry};
pub use webhooks::WebhookSettings;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where a deployed image keeps the bundle (the Dockerfile puts it there).
pub const IMAGE_BUNDLE: &str = "/opt/reportq/tex-bundle";

/// The most requests one `POST /v1/reports/batch` takes.
pub const MAX_BATCH: usize = 1000;

/// A setting that cannot be used: the process does not start, and says which and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid { name: &'static str, value: String, reason: String },
    #[error("{name} is not set: {reason}")]
    Missing { name: &'static str, reason: &'static str },
}

/// A snapshot of the variables a process was started with.
#[derive(Debug, Clone, Default)]
pub struct Env(HashMap<String, String>);

impl Env {
    /// This process's environment.
    pub fn process() -> Env {
        Env(std::env::vars().collect())
    }

    /// Exactly these variables (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env(pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// A variable's value, trimmed; unset and empty are the same.
    pub fn get(&self, name: &str) -> Option<String> {
        self.var(name)
    }

    fn parse<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError> {
        match self.var(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid { name, value: v.clone(), reason: "not a valid value".into() }),
        }
    }

    pub(crate) fn secs(&self, name: &'static str, default: f64, lo: f64, hi: f64) -> Result<Duration, ConfigError> {
        let v = self.parse(name, default)?;
        if !(v >= lo && v <= hi) {
            return Err(ConfigError::Invalid { name, value: v.to_string(), reason: format!("must be between {lo} and {hi} seconds") });
        }
        Ok(Duration::from_secs_f64(v))
    }

    fn cores() -> usize {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
    }

    /// The bucket and the two queues (bulk, interactive) both functions use.
    fn aws(&self) -> Result<(String, String, Option<String>), ConfigError> {
        let region = self.var("AWS_REGION").or_else(|| self.var("AWS_DEFAULT_REGION")).unwrap_or_else(|| "us-east-1".into());
        let queue_url = self
            .var("REPORTQ_QUEUE_URL")
            .or_else(|| self.var("AWS_ENDPOINT_URL").map(|e| format!("{}/queue/{region}/000000000000/reportq-jobs", e.trim_end_matches('/'))))
            .ok_or(ConfigError::Missing {
                name: "REPORTQ_QUEUE_URL",
                reason: "set it to the job queue's URL (or set AWS_ENDPOINT_URL, from which a local default is made)",
            })?;
        // Without its own queue the interactive lane shares the bulk one (one lane, as before).
        let interactive = self.var("REPORTQ_INTERACTIVE_QUEUE_URL").or_else(|| match self.var("REPORTQ_QUEUE_URL") {
            Some(_) => None,
            None => self.var("AWS_ENDPOINT_URL").map(|e| format!("{}/queue/{region}/000000000000/reportq-interactive", e.trim_end_matches('/'))),
        });
        Ok((self.var("REPORTQ_BUCKET").unwrap_or_else(|| "reportq-local".into()), queue_url, interactive))
    }
}

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
    /// The kernel layers a TeX child must have besides the I/O allow-list, which is always on
    /// (`REPORTQ_REQUIRE_SANDBOX`: `io`, the default, `io+seccomp`, `io+landlock` or
    /// `io+seccomp+landlock`). A render whose child lacks one is refused and retried; on AWS
    /// Lambda, which refuses both, only `io` renders.
    pub require_layers: Vec<&'static str>,
    /// Load a template's preamble from its pre-built format when `reportq setup` made one
    /// (`REPORTQ_TEX_PRELOAD`, default on; `0` compiles every document whole on LaTeX's own
    /// format, the same output, slower: for comparing the two).
    pub preload: bool,
}

/// An on/off setting that is on unless set to `0`, `false` or `off`.
fn switch(env: &Env, name: &'static str, reason: &str) -> Result<bool, ConfigError> {
    match env.var(name).as_deref() {
        None | Some("1") | Some("true") | Some("on") => Ok(true),
        Some("0") | Some("false") | Some("off") => Ok(false),
        Some(v) => Err(ConfigError::Invalid { name, value: v.into(), reason: reason.into() }),
    }
}

impl RenderConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    pub fn read(env: &Env) -> Result<Self, ConfigError> {
        let bundle = match env.var("REPORTQ_TEX_BUNDLE") {
            Some(p) => PathBuf::from(p),
            None => default_bundle(env),
        };
        let timeout = env.secs("REPORTQ_RENDER_TIMEOUT_SECS", 60.0, 0.001, 86_400.0)?;
        Ok(Self {
            bundle,
            timeout,
            memory_mb: env.parse("REPORTQ_RENDER_MEMORY_MB", 1024)?,
            concurrency: env.parse("REPORTQ_RENDER_CONCURRENCY", Env::cores())?.max(1),
            child_exe: env.var("REPORTQ_TEX_CHILD").map(PathBuf::from),
            tmp_dir: env.var("TMPDIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir),
            require_layers: required_layers(env)?,
            preload: switch(env, "REPORTQ_TEX_PRELOAD", "use 1 (load pre-built preamble formats) or 0")?,
        })
    }
}

/// `REPORTQ_REQUIRE_SANDBOX`: `io` plus any of `seccomp` and `landlock`, joined by `+`.
fn required_layers(env: &Env) -> Result<Vec<&'static str>, ConfigError> {
    use crate::domain::confinement::{IO, LANDLOCK, SECCOMP};
    const NAME: &str = "REPORTQ_REQUIRE_SANDBOX";
    let Some(v) = env.var(NAME) else { return Ok(Vec::new()) };
    let bad = |reason: &str| ConfigError::Invalid { name: NAME, value: v.clone(), reason: reason.into() };
    let mut layers = Vec::new();
    for part in v.split(['+', ',']).map(str::trim) {
        match part {
            IO => {}
            SECCOMP => layers.push(SECCOMP),
            LANDLOCK => layers.push(LANDLOCK),
            "0" | "1" => {
                return Err(bad(
                    "it now names the layers a render needs: io (the default; the I/O allow-list, always on), io+seccomp, io+landlock or io+seccomp+landlock",
                ));
            }
            _ => return Err(bad("use io, io+seccomp, io+landlock or io+seccomp+landlock")),
        }
    }
    Ok(layers)
}

fn default_bundle(env: &Env) -> PathBuf {
    if std::path::Path::new(IMAGE_BUNDLE).is_dir() {
        return PathBuf::from(IMAGE_BUNDLE);
    }
    let home = env.var("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache/reportq/tex-bundle")
}

/// The API's settings. AWS itself (endpoint, region, credentials) is configured by the SDK's
/// standard variables, read by [`crate::aws::clients`].
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `REPORTQ_BUCKET` (default `reportq-local`, what `scripts/localstack.sh` creates).
    pub bucket: String,
    /// The bulk lane: `REPORTQ_QUEUE_URL`; default: the `reportq-jobs` queue at `AWS_ENDPOINT_URL`.
    pub queue_url: String,
    /// The interactive lane: `REPORTQ_INTERACTIVE_QUEUE_URL`; default: `reportq-interactive` at
    /// `AWS_ENDPOINT_URL` when the bulk queue is defaulted too, else none (one shared queue).
    pub interactive_queue_url: Option<String>,
    /// How long a presigned download URL lives (`REPORTQ_URL_EXPIRY_SECS`, default 900).
    pub url_expiry: Duration,
    /// How long `POST /api/report/pdf` waits for its job before answering 503 with
    /// `Retry-After` (`REPORTQ_PDF_WAIT_SECS`, default 25: API Gateway gives up at 30 s, and the
    /// last read and the answer must fit in the rest).
    pub pdf_wait: Duration,
    /// The largest PDF `POST /api/report/pdf` answers inline; a larger one is a `303` to its
    /// presigned URL (`REPORTQ_INLINE_PDF_MAX_BYTES`, default 4 MiB: API Gateway's answer limit
    /// is about 6 MB after base64, which adds a third).
    pub inline_pdf_max: u64,
    /// Largest body of one request (`REPORTQ_MAX_REQUEST_BYTES`, default 1 MiB).
    pub max_request_bytes: usize,
    /// Largest body of a batch (`REPORTQ_MAX_BATCH_BYTES`, default 2 MiB: 1,000 DiAGRAM
    /// requests of a few models each fit; at most Lambda's 6 MB payload).
    pub max_batch_bytes: usize,
    /// Admission control: a batch is refused (`503`) when the bulk queue would hold more than
    /// this many messages (`REPORTQ_MAX_BACKLOG`, default 10,000: about half an hour of work for
    /// the default 10 workers).
    pub max_backlog: u64,
    /// A single report is refused when this many wait on the interactive queue
    /// (`REPORTQ_MAX_INTERACTIVE_BACKLOG`, default 200).
    pub max_interactive_backlog: u64,
    /// Above this many waiting interactive reports, `POST /api/report/pdf` queues its job but
    /// does not hold the function waiting for it (`REPORTQ_PDF_WAIT_BACKLOG`, default 20).
    pub pdf_wait_backlog: u64,
    /// Origins allowed to call the API from a browser (`REPORTQ_CORS_ORIGINS`, comma-separated,
    /// `*` for any; default none).
    pub cors_origins: Vec<String>,
    /// The DiAGRAM network (BIF) for the scoring routes (`REPORTQ_DIAGRAM_MODEL`; without it the
    /// scoring routes answer 503).
    pub diagram_model: Option<PathBuf>,
    /// Where `reportq serve` listens (`REPORTQ_LISTEN`, default `127.0.0.1:8080`).
    pub listen: String,
    /// How `/v1` callers authenticate (`REPORTQ_AUTH`: `off`, the default; `keys`; `jwt`).
    pub auth: crate::domain::access::AuthMode,
    /// Callback checks: which addresses may be called, and whether webhooks are on at all.
    pub webhooks: WebhookSettings,
    /// How JWT claims become callers (`REPORTQ_JWT_SCOPE_PREFIX`, `REPORTQ_JWT_QUOTA_PER_DAY`).
    pub jwt: crate::domain::access::JwtPolicy,
}

/// Reading and making the two functions' settings: from the environment, or the defaults for a
/// given bucket and queue (tests, benchmarks).
macro_rules! settings_constructors {
    ($t:ty) => {
        impl $t {
            pub fn from_env() -> Result<Self, ConfigError> {
                Self::read(&Env::process())
            }

            /// The defaults, for this bucket and queue.
            pub fn new(bucket: impl Into<String>, queue_url: impl Into<String>) -> Self {
                let mut s = Self::read(&Env::from_pairs([("REPORTQ_QUEUE_URL", "-")])).expect("the defaults are valid");
                s.bucket = bucket.into();
                s.queue_url = queue_url.into();
                s.interactive_queue_url = None;
                s
            }
        }
    };
}

/// `REPORTQ_AUTH`. Unset means `off` on a laptop (`reportq serve`, the tests); on Lambda, where
/// the API is public, it must be set, and `off` needs `REPORTQ_ALLOW_ANONYMOUS_V1=true` too (the
/// template's `AllowAnonymousV1`), so that an open API is never an accident.
fn auth_mode(env: &Env) -> Result<crate::domain::access::AuthMode, ConfigError> {
    use crate::domain::access::AuthMode;
    let lambda = env.var("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let mode = match env.var("REPORTQ_AUTH") {
        None if lambda => {
            return Err(ConfigError::Missing {
                name: "REPORTQ_AUTH",
                reason: "on Lambda the /v1 routes must say how callers authenticate: keys or jwt",
            });
        }
        None => AuthMode::Off,
        Some(v) => AuthMode::parse(&v).ok_or_else(|| ConfigError::Invalid {
            name: "REPORTQ_AUTH",
            value: v.clone(),
            reason: "use off, keys or jwt".into(),
        })?,
    };
    let allowed = env.var("REPORTQ_ALLOW_ANONYMOUS_V1").is_some_and(|v| v == "true");
    if lambda && mode == AuthMode::Off && !allowed {
        return Err(ConfigError::Invalid {
            name: "REPORTQ_AUTH",
            value: "off".into(),
            reason: "an open /v1 API on Lambda needs REPORTQ_ALLOW_ANONYMOUS_V1=true as well (the template's AllowAnonymousV1)".into(),
        });
    }
    Ok(mode)
}

settings_constructors!(ApiSettings);
settings_constructors!(WorkerSettings);

impl ApiSettings {
    pub fn read(env: &Env) -> Result<Self, ConfigError> {
        let (bucket, queue_url, interactive_queue_url) = env.aws()?;
        Ok(Self {
            bucket,
            queue_url,
            interactive_queue_url,
            // SigV4 presigned URLs cannot outlive 7 days.
            url_expiry: env.secs("REPORTQ_URL_EXPIRY_SECS", 900.0, 1.0, 604_800.0)?,
            pdf_wait: env.secs("REPORTQ_PDF_WAIT_SECS", 25.0, 0.0, 28.0)?,
            inline_pdf_max: env.parse("REPORTQ_INLINE_PDF_MAX_BYTES", 4u64 << 20)?.min(4 << 20),
            max_request_bytes: env.parse("REPORTQ_MAX_REQUEST_BYTES", 1usize << 20)?,
            max_batch_bytes: env.parse("REPORTQ_MAX_BATCH_BYTES", 2usize << 20)?,
            max_backlog: env.parse("REPORTQ_MAX_BACKLOG", 10_000u64)?,
            max_interactive_backlog: env.parse("REPORTQ_MAX_INTERACTIVE_BACKLOG", 200u64)?,
            pdf_wait_backlog: env.parse("REPORTQ_PDF_WAIT_BACKLOG", 20u64)?,
            cors_origins: env
                .var("REPORTQ_CORS_ORIGINS")
                .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
            diagram_model: env.var("REPORTQ_DIAGRAM_MODEL").map(PathBuf::from),
            listen: env.var("REPORTQ_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into()),
            auth: auth_mode(env)?,
            webhooks: WebhookSettings::read(env)?,
            jwt: crate::domain::access::JwtPolicy {
                scope_prefix: env.var("REPORTQ_JWT_SCOPE_PREFIX").map(|p| p.trim_end_matches('/').to_string()),
                quota_per_day: match env.parse("REPORTQ_JWT_QUOTA_PER_DAY", 0u64)? {
                    0 => None,
                    n => Some(n),
                },
            },
        })
    }
}

/// The worker's settings.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub bucket: String,
    /// The bulk lane's queue (`REPORTQ_QUEUE_URL`).
    pub queue_url: String,
    /// The interactive lane's queue (`REPORTQ_INTERACTIVE_QUEUE_URL`), polled first by
    /// `reportq worker`; on Lambda each queue has its own event source mapping.
    pub interactive_queue_url: Option<String>,
    /// The worker's limit for one job, fetch to status write (`REPORTQ_JOB_DEADLINE_SECS`, default
    /// 120). Must be below the queue's visibility timeout, or a slow job is handed to a second
    /// worker while the first still runs.
    pub job_deadline: Duration,
    /// Deliveries before SQS moves a message to the DLQ (`REPORTQ_MAX_RECEIVE_COUNT`, default 5;
    /// must match the queue's redrive policy). On the last one a job that still fails for a
    /// transient reason is marked `failed`, so pollers stop waiting.
    pub max_receive_count: u32,
    /// The DiAGRAM network: reports then rank improvements (`REPORTQ_DIAGRAM_MODEL`).
    pub diagram_model: Option<PathBuf>,
    /// Jobs one worker process runs at once (`REPORTQ_WORKER_CONCURRENCY`, default: cores).
    pub concurrency: usize,
    /// Long-poll wait of `reportq worker` (`REPORTQ_POLL_WAIT_SECS`, default 20, at most 20).
    pub poll_wait: Duration,
    /// Where `reportq worker` serves `/metrics` (`REPORTQ_METRICS_LISTEN`, default
    /// `127.0.0.1:9091`; `off`: nowhere).
    pub metrics_listen: Option<String>,
    /// After this long unfinished jobs are expired by the sweep (`REPORTQ_JOB_EXPIRY_SECS`,
    /// default 345,600 = 4 days: the queues' message retention, which it must equal).
    pub job_expiry: Duration,
    /// Where final events go, how they are signed and retried.
    pub webhooks: WebhookSettings,
    /// The key reports are signed with, if any.
    pub signing: SigningSettings,
    /// A manifest's fan-out pauses while the bulk queue holds more than this
    /// (`REPORTQ_MAX_BACKLOG`, the API's admission limit).
    pub max_backlog: u64,
}

impl WorkerSettings {
    pub fn read(env: &Env) -> Result<Self, ConfigError> {
        let (bucket, queue_url, interactive_queue_url) = env.aws()?;
        Ok(Self {
            bucket,
            queue_url,
            interactive_queue_url,
            job_deadline: env.secs("REPORTQ_JOB_DEADLINE_SECS", 120.0, 1.0, 43_200.0)?,
            max_receive_count: env.parse("REPORTQ_MAX_RECEIVE_COUNT", 5u32)?.max(1),
            diagram_model: env.var("REPORTQ_DIAGRAM_MODEL").map(PathBuf::from),
            concurrency: env.parse("REPORTQ_WORKER_CONCURRENCY", Env::cores())?.max(1),
            poll_wait: env.secs("REPORTQ_POLL_WAIT_SECS", 20.0, 0.0, 20.0)?,
            job_expiry: env.secs("REPORTQ_JOB_EXPIRY_SECS", 345_600.0, 60.0, 1_209_600.0)?,
            webhooks: WebhookSettings::read(env)?,
            signing: SigningSettings::read(env)?,
            metrics_listen: match env.var("REPORTQ_METRICS_LISTEN") {
                Some(v) if v == "off" => None,
                Some(v) => Some(v),
                None => Some("127.0.0.1:9091".into()),
            },
            max_backlog: env.parse("REPORTQ_MAX_BACKLOG", 10_000u64)?,
        })
    }

    /// The renderer settings a worker uses: the TeX run's own limit is kept inside the job's
    /// deadline, so a stuck render is stopped by the renderer (a permanent `render_timeout`)
    /// before the job deadline gives the message back to the queue.
    pub fn cap_render(&self, mut render: RenderConfig) -> RenderConfig {
        let cap = self.job_deadline.mul_f64(0.8);
        if render.timeout > cap {
            render.timeout = cap;
        }
        render
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_variables_given_and_bad_ones_are_named() {
        let env = Env::from_pairs([("AWS_ENDPOINT_URL", "http://127.0.0.1:4566/"), ("REPORTQ_PDF_WAIT_SECS", "5")]);
        let api = ApiSettings::read(&env).unwrap();
        assert_eq!(api.queue_url, "http://127.0.0.1:4566/queue/us-east-1/000000000000/reportq-jobs");
        assert_eq!(api.interactive_queue_url.as_deref(), Some("http://127.0.0.1:4566/queue/us-east-1/000000000000/reportq-interactive"));
        // A bulk queue named without an interactive one: both lanes share it.
        let one = ApiSettings::read(&Env::from_pairs([("REPORTQ_QUEUE_URL", "q")])).unwrap();
        assert_eq!(one.interactive_queue_url, None);
        assert_eq!(api.pdf_wait, Duration::from_secs(5));
        // On Lambda, authentication is said, and off only on purpose.
        let lambda = |pairs: &[(&'static str, &'static str)]| {
            let mut all = vec![("REPORTQ_QUEUE_URL", "q"), ("AWS_LAMBDA_FUNCTION_NAME", "api")];
            all.extend_from_slice(pairs);
            ApiSettings::read(&Env::from_pairs(all))
        };
        assert!(matches!(lambda(&[]), Err(ConfigError::Missing { name: "REPORTQ_AUTH", .. })));
        assert!(matches!(lambda(&[("REPORTQ_AUTH", "off")]), Err(ConfigError::Invalid { name: "REPORTQ_AUTH", .. })));
        assert!(lambda(&[("REPORTQ_AUTH", "off"), ("REPORTQ_ALLOW_ANONYMOUS_V1", "true")]).is_ok());
        assert!(lambda(&[("REPORTQ_AUTH", "keys")]).is_ok());
        let bad = Env::from_pairs([("REPORTQ_QUEUE_URL", "q"), ("REPORTQ_PDF_WAIT_SECS", "40")]);
        let e = ApiSettings::read(&bad).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { name: "REPORTQ_PDF_WAIT_SECS", .. }), "{e}");
        let e = WorkerSettings::read(&Env::default()).unwrap_err();
        assert!(matches!(e, ConfigError::Missing { name: "REPORTQ_QUEUE_URL", .. }), "{e}");
    }
}
