//! The command-line client of a deployed reportq API (`reportq submit`): submits requests,
//! polls with back-off, downloads finished PDFs through their presigned URLs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{status}: {code}: {message}{}", field.as_deref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    Api { status: u16, code: String, message: String, field: Option<String>, body: Value },
    #[error("cannot reach the API: {0}")]
    Transport(String),
    #[error("gave up waiting after {0:.0?}")]
    Timeout(Duration),
    #[error("job {id} failed: {code}: {message}")]
    JobFailed { id: String, code: String, message: String },
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub struct Client {
    http: reqwest::Client,
    base: String,
}

/// Polling back-off: starts quick (a render takes about a second), settles at a few seconds.
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new() -> Self {
        Self { next: Duration::from_millis(250), max: Duration::from_secs(5) }
    }

    pub fn next(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 3 / 2).min(self.max);
        d
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

fn transport(e: reqwest::Error) -> ClientError {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    ClientError::Transport(s)
}

async fn api_error(resp: reqwest::Response) -> ClientError {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let e = &body["error"];
    ClientError::Api {
        status,
        code: e["code"].as_str().unwrap_or("unknown").to_string(),
        message: e["message"].as_str().unwrap_or("(no error body)").to_string(),
        field: e["field"].as_str().map(str::to_string),
        body,
    }
}

impl Client {
    pub fn new(base: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(transport)?;
        Ok(Self { http, base: base.trim_end_matches('/').to_string() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs JSON with an Idempotency-Key, retrying transport failures and 503s with the same
    /// key, so a retry never makes a second job.
    async fn post(&self, path: &str, body: &Value, key: &str) -> Result<Value, ClientError> {
        let mut backoff = Backoff::new();
        let mut tries = 0;
        loop {
            tries += 1;
            let sent = self.http.post(self.url(path)).header("idempotency-key", key).json(body).send().await;
            match sent {
                Ok(r) if r.status().is_success() => return r.json().await.map_err(transport),
                Ok(r) if r.status().as_u16() == 503 && tries < 5 => {}
                Ok(r) => return Err(api_error(r).await),
                Err(e) if tries < 5 && (e.is_connect() || e.is_timeout()) => {}
                Err(e) => return Err(transport(e)),
            }
            tokio::time::sleep(backoff.next()).await;
        }
    }

    async fn get(&self, path: &str) -> Result<Value, ClientError> {
        let r = self.http.get(self.url(path)).send().await.map_err(transport)?;
        if !r.status().is_success() {
            return Err(api_error(r).await);
        }
        r.json().await.map_err(transport)
    }

    pub async fn submit(&self, request: &Value) -> Result<Value, ClientError> {
        self.post("/v1/reports", request, &uuid::Uuid::new_v4().to_string()).await
    }

    pub async fn submit_batch(&self, requests: &[Value]) -> Result<Value, ClientError> {
        let body = serde_json::json!({ "requests": requests });
        self.post("/v1/reports/batch", &body, &uuid::Uuid::new_v4().to_string()).await
    }

    pub async fn job(&self, id: &str) -> Result<Value, ClientError> {
        self.get(&format!("/v1/reports/{id}")).await
    }

    /// Every job of a batch with its status (following the pages), and the counts.
    pub async fn batch(&self, id: &str) -> Result<(Value, Vec<(String, String)>), ClientError> {
        let mut jobs = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => format!("/v1/batches/{id}?limit=1000"),
                Some(c) => format!("/v1/batches/{id}?limit=1000&cursor={c}"),
            };
            let page = self.get(&path).await?;
            for j in page["jobs"].as_array().into_iter().flatten() {
                jobs.push((j["job_id"].as_str().unwrap_or_default().to_string(), j["status"].as_str().unwrap_or_default().to_string()));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok((page["counts"].clone(), jobs)),
            }
        }
    }

    /// Polls a job until it is finished; `on_status` sees each status change.
    pub async fn wait(&self, id: &str, timeout: Duration, mut on_status: impl FnMut(&str)) -> Result<Value, ClientError> {
        let start = Instant::now();
        let mut backoff = Backoff::new();
        let mut last = String::new();
        loop {
            let job = self.job(id).await?;
            let status = job["status"].as_str().unwrap_or_default().to_string();
            if status != last {
                on_status(&status);
                last = status.clone();
            }
            match status.as_str() {
                "succeeded" => return Ok(job),
                "failed" => {
                    return Err(ClientError::JobFailed {
                        id: id.to_string(),
                        code: job["error"]["code"].as_str().unwrap_or_default().to_string(),
                        message: job["error"]["message"].as_str().unwrap_or_default().to_string(),
                    });
                }
                _ => {}
            }
            if start.elapsed() > timeout {
                return Err(ClientError::Timeout(timeout));
            }
            tokio::time::sleep(backoff.next()).await;
        }
    }

    /// Downloads a finished job's PDF to `path` (through `/pdf`, which redirects to a fresh
    /// presigned URL: the URL in an older status answer may have expired).
    pub async fn download(&self, id: &str, path: &Path) -> Result<u64, ClientError> {
        let r = self.http.get(self.url(&format!("/v1/reports/{id}/pdf"))).send().await.map_err(transport)?;
        if !r.status().is_success() {
            return Err(api_error(r).await);
        }
        let bytes = r.bytes().await.map_err(transport)?;
        if !bytes.starts_with(b"%PDF-") {
            return Err(ClientError::Input(format!("the download of job {id} is not a PDF")));
        }
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(bytes.len() as u64)
    }
}

/// Requests of a batch: every `*.json` in a folder (sorted by name), or one per line of a
/// JSONL file. Each comes with the stem its PDF is saved under.
pub fn read_batch(input: &Path) -> Result<Vec<(String, Value)>, ClientError> {
    let parse = |what: &str, text: &str| {
        serde_json::from_str::<Value>(text).map_err(|e| ClientError::Input(format!("{what}: not JSON: {e}")))
    };
    if input.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(input)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let stem = f.file_stem().unwrap_or_default().to_string_lossy().into_owned();
                Ok((stem, parse(&f.display().to_string(), &std::fs::read_to_string(f)?)?))
            })
            .collect()
    } else {
        let text = std::fs::read_to_string(input)?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| Ok((format!("{:04}", i + 1), parse(&format!("{}:{}", input.display(), i + 1), l)?)))
            .collect()
    }
}
