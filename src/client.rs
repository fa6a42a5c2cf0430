//! The command-line client of a deployed reportq API (`reportq submit`): submits requests,
//! polls with back-off, downloads finished PDFs through their presigned URLs. It reads the
//! API's answers as the same [`crate::wire`] types the API writes.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::job::Status;
use crate::wire::{BatchSubmitted, BatchView, Counts, ErrorBody, JobView, Submitted};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{status}: {code}: {message}{}", field.as_deref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    Api { status: u16, code: String, message: String, field: Option<String>, body: Box<Option<ErrorBody>> },
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

    /// The next pause.
    pub fn pause(&mut self) -> Duration {
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
    let body: Option<ErrorBody> = resp.json().await.ok();
    let e = body.as_ref().map(|b| b.error.clone()).unwrap_or_default();
    ClientError::Api {
        status,
        code: if e.code.is_empty() { "unknown".into() } else { e.code },
        message: if e.message.is_empty() { "(no error body)".into() } else { e.message },
        field: e.field,
        body: Box::new(body),
    }
}

impl Client {
    pub fn new(base: &str) -> Result<Self, ClientError> {
        Self::with_key(base, None)
    }

    /// A client that sends `Authorization: Bearer {key}` on every call (a deployment with
    /// `REPORTQ_AUTH=keys`; `reportq submit` takes it from `REPORTQ_API_KEY`).
    pub fn with_key(base: &str, key: Option<&str>) -> Result<Self, ClientError> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(k) = key {
            let mut v =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {k}")).map_err(|e| ClientError::Input(format!("the API key: {e}")))?;
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .default_headers(headers)
            .build()
            .map_err(transport)?;
        Ok(Self { http, base: base.trim_end_matches('/').to_string() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs JSON with an Idempotency-Key, retrying transport failures and 503s with the same
    /// key, so a retry never makes a second job.
    async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value, key: &str) -> Result<T, ClientError> {
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
            tokio::time::sleep(backoff.pause()).await;
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let r = self.http.get(self.url(path)).send().await.map_err(transport)?;
        if !r.status().is_success() {
            return Err(api_error(r).await);
        }
        r.json().await.map_err(transport)
    }

    pub async fn submit(&self, request: &Value) -> Result<Submitted, ClientError> {
        self.post("/v1/reports", request, &Uuid::new_v4().to_string()).await
    }

    pub async fn submit_batch(&self, requests: &[Value]) -> Result<BatchSubmitted, ClientError> {
        let body = serde_json::json!({ "requests": requests });
        self.post("/v1/reports/batch", &body, &Uuid::new_v4().to_string()).await
    }

    pub async fn job(&self, id: Uuid) -> Result<JobView, ClientError> {
        self.get(&format!("/v1/reports/{id}")).await
    }

    /// Every job of a batch with its status (following the pages), and the counts.
    pub async fn batch(&self, id: Uuid) -> Result<(Counts, Vec<(Uuid, Status)>), ClientError> {
        let mut jobs = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => format!("/v1/batches/{id}?limit=1000"),
                Some(c) => format!("/v1/batches/{id}?limit=1000&cursor={c}"),
            };
            let page: BatchView = self.get(&path).await?;
            jobs.extend(page.jobs.iter().map(|j| (j.job_id, j.status)));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok((page.counts, jobs)),
            }
        }
    }

    /// Polls a job until it is finished; `on_status` sees each status change.
    pub async fn wait(&self, id: Uuid, timeout: Duration, mut on_status: impl FnMut(Status)) -> Result<JobView, ClientError> {
        let start = Instant::now();
        let mut backoff = Backoff::new();
        let mut last = None;
        loop {
            let job = self.job(id).await?;
            if last != Some(job.status) {
                on_status(job.status);
                last = Some(job.status);
            }
            match job.status {
                Status::Succeeded => return Ok(job),
                Status::Failed => {
                    let e = job.error.unwrap_or(crate::domain::job::JobError { code: String::new(), message: String::new() });
                    return Err(ClientError::JobFailed { id: id.to_string(), code: e.code, message: e.message });
                }
                _ => {}
            }
            if start.elapsed() > timeout {
                return Err(ClientError::Timeout(timeout));
            }
            tokio::time::sleep(backoff.pause()).await;
        }
    }

    /// Submits named requests in batches of up to 1,000 (a refused batch queues nothing and
    /// names each bad request), then with `dir` waits for every job and saves each PDF as
    /// `{name}.pdf`, with a progress bar. Returns the submitted batches and jobs.
    pub async fn run_batch(&self, items: &[(String, Value)], dir: Option<&Path>, timeout: Duration) -> Result<BatchRun, ClientError> {
        let mut run = BatchRun::default();
        for chunk in items.chunks(crate::config::MAX_BATCH) {
            let reqs: Vec<Value> = chunk.iter().map(|(_, v)| v.clone()).collect();
            let resp = self.submit_batch(&reqs).await.map_err(|e| match e {
                ClientError::Api { body, .. } if body.as_ref().as_ref().and_then(|b| b.error.items.as_ref()).is_some() => {
                    let items = body.and_then(|b| b.error.items).unwrap_or_default();
                    let lines: Vec<String> =
                        items.iter().map(|i| format!("  {}: {}: {}", chunk.get(i.index).map_or("?", |c| c.0.as_str()), i.field, i.message)).collect();
                    ClientError::Input(format!("the batch was refused, nothing was queued:\n{}", lines.join("\n")))
                }
                e => e,
            })?;
            run.jobs.extend(chunk.iter().map(|(name, _)| name.clone()).zip(resp.job_ids.iter().copied()));
            run.batches.push(resp.batch_id);
        }
        tracing::info!(requests = run.jobs.len(), batches = run.batches.len(), "submitted");
        let Some(dir) = dir else { return Ok(run) };
        std::fs::create_dir_all(dir)?;
        let bar = indicatif::ProgressBar::new(run.jobs.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} done, {msg} [{elapsed_precise}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let names: HashMap<Uuid, String> = run.jobs.iter().map(|(n, id)| (*id, n.clone())).collect();
        let mut seen = HashSet::new();
        let start = Instant::now();
        let mut backoff = Backoff::new();
        while seen.len() < run.jobs.len() {
            let mut finished = Vec::new();
            for b in &run.batches {
                let (_, statuses) = self.batch(*b).await?;
                finished.extend(statuses.into_iter().filter(|(id, st)| st.is_final() && !seen.contains(id)));
            }
            let downloads = futures::stream::iter(finished)
                .map(|(id, st)| {
                    let path = dir.join(format!("{}.pdf", names.get(&id).cloned().unwrap_or_else(|| id.to_string())));
                    async move {
                        if st == Status::Succeeded {
                            self.download(id, &path).await.map(|_| (id, None))
                        } else {
                            let e = self.job(id).await?.error.map(|e| format!("{}: {}", e.code, e.message)).unwrap_or_default();
                            Ok((id, Some(e)))
                        }
                    }
                })
                .buffer_unordered(4)
                .collect::<Vec<Result<_, ClientError>>>()
                .await;
            for d in downloads {
                let (id, err) = d?;
                if let Some(e) = err {
                    run.failed.push(format!("{}: {e}", names.get(&id).cloned().unwrap_or_else(|| id.to_string())));
                }
                seen.insert(id);
                bar.inc(1);
            }
            bar.set_message(format!("{} failed", run.failed.len()));
            if seen.len() >= run.jobs.len() {
                break;
            }
            if start.elapsed() > timeout {
                bar.abandon();
                return Err(ClientError::Input(format!("gave up after {timeout:?}: {} of {} jobs finished", seen.len(), run.jobs.len())));
            }
            tokio::time::sleep(backoff.pause()).await;
        }
        bar.finish();
        Ok(run)
    }

    /// A bulk run from a JSONL file of any size up to the manifest limits: makes the manifest
    /// batch, uploads the file (streamed, never held whole), starts it, and with `wait`
    /// follows its counts with a progress bar (rate, ETA) until every line is final.
    pub async fn run_manifest(&self, input: &Path, wait: bool, timeout: Duration) -> Result<(Uuid, BatchView), ClientError> {
        use std::io::{BufRead, Read};
        let lines = std::io::BufReader::new(std::fs::File::open(input)?).split(b'\n').count() as u64;
        let size = std::fs::metadata(input)?.len();
        let created: crate::wire::ManifestCreated =
            self.post("/v1/batches", &serde_json::json!({ "manifest": { "lines": lines } }), &Uuid::new_v4().to_string()).await?;
        let id = created.batch_id;
        eprintln!("batch {id}: uploading {lines} lines ({size} bytes)");
        let file = std::fs::File::open(input)?;
        let chunks = futures::stream::unfold(file, |mut f| async move {
            let mut buf = vec![0u8; 1 << 20];
            match f.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(buf), f))
                }
                Err(e) => Some((Err(e), f)),
            }
        });
        let put = reqwest::Client::new()
            .put(&created.upload.url)
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .map_err(transport)?;
        if !put.status().is_success() {
            return Err(ClientError::Input(format!("uploading the manifest: {} {}", put.status(), put.text().await.unwrap_or_default())));
        }
        let _: Value = self.post(&created.links.start, &serde_json::json!({}), &Uuid::new_v4().to_string()).await?;
        let path = format!("/v1/batches/{id}?limit=1");
        if !wait {
            return Ok((id, self.get(&path).await?));
        }
        let bar = indicatif::ProgressBar::new(lines);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} lines final, {per_sec}, ETA {eta} | {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let start = Instant::now();
        loop {
            let view: BatchView = self.get(&path).await?;
            let m = view.manifest.clone().unwrap_or(crate::wire::ManifestView {
                lines: lines as u32,
                state: "awaiting_upload".into(),
                lines_read: 0,
                validated: 0,
                invalid: 0,
                errors_url: None,
            });
            let c = &view.counts;
            bar.set_position((c.succeeded + c.failed) as u64 + u64::from(m.invalid));
            bar.set_message(format!(
                "{}: {} validated, {} invalid, {} queued, {} running, {} succeeded, {} failed",
                m.state, m.validated, m.invalid, c.queued, c.running, c.succeeded, c.failed
            ));
            if view.done {
                bar.finish();
                return Ok((id, view));
            }
            if start.elapsed() > timeout {
                bar.abandon();
                return Err(ClientError::Input(format!("gave up after {timeout:?}: batch {id} is not done")));
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Downloads a finished job's PDF to `path` (through `/pdf`, which redirects to a fresh
    /// presigned URL: the URL in an older status answer may have expired).
    pub async fn download(&self, id: Uuid, path: &Path) -> Result<u64, ClientError> {
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

/// What [`Client::run_batch`] submitted and what failed.
#[derive(Debug, Default)]
pub struct BatchRun {
    pub batches: Vec<Uuid>,
    /// (name, job id) in input order.
    pub jobs: Vec<(String, Uuid)>,
    /// "name: code: message" of each failed job (when waited for).
    pub failed: Vec<String>,
}

/// Requests of a batch: every `*.json` in a folder (sorted by name), or one per line of a
/// JSONL file. Each comes with the stem its PDF is saved under.
pub fn read_batch(input: &Path) -> Result<Vec<(String, Value)>, ClientError> {
    let parse = |what: &str, text: &str| serde_json::from_str::<Value>(text).map_err(|e| ClientError::Input(format!("{what}: not JSON: {e}")));
    if input.is_dir() {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(input)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
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
