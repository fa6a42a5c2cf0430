//! The worker: takes job messages (from the Lambda SQS event source, or from `reportq worker`
//! polling the queue), renders each job once, uploads the PDF and records the outcome.
//!
//! The claim/lease/finish rules run over the [`JobStore`] interface and a [`Typesetter`]
//! implementation, so they are tested in memory; the Lambda entry points and the poll loops
//! are in [`entry`], through [`crate::consumer`].
//!
//! The retry decision is made once, in [`Worker::run_claimed`]: a permanent fault (bad
//! parameters, a TeX error, a render limit) marks the job `failed` and is an `Ok` outcome, so
//! the message goes; every `Err` is transient and leaves the message on the queue (reported
//! in `batchItemFailures`) to come back after its visibility timeout. A message that keeps
//! failing is moved to the DLQ by SQS's redrive policy; on its last delivery the job is
//! marked `failed` (`retries_exhausted`) so pollers stop waiting. A message that is not a
//! job message, or names no job, is retried too, so that it ends in the DLQ where a person
//! can look at it, instead of vanishing.

mod entry;

pub use entry::batch_response;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsMessage;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::WorkerSettings;
use crate::domain::job::{Claim, Event, EventKind, FailureCode, Job, JobError, Lane, Output, Status, now_epoch, now_ms};
use crate::metrics;
use crate::queue::JobMessage;
use crate::render::{RenderError, Renderer};
use crate::request::ReportRequest;
use crate::scoring::Scorer;
use crate::store::{JobStore, Put, StoreError};
use crate::template::{Date, RenderContext};

/// What turns a job's request into PDF bytes: the confined TeX [`Renderer`], or a stand-in
/// in the domain tests.
pub trait Typesetter: Send + Sync {
    /// The PDF, and what confined the render (`sandbox`), which the job's timeline keeps.
    fn render(&self, req: &ReportRequest, ctx: &RenderContext) -> Result<crate::render::Rendered, RenderError>;
}

impl Typesetter for Renderer {
    fn render(&self, req: &ReportRequest, ctx: &RenderContext) -> Result<crate::render::Rendered, RenderError> {
        Renderer::render(self, req, ctx)
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Rendered, uploaded, recorded.
    Rendered { job_id: Uuid, size: u64 },
    /// The PDF of an earlier attempt was already in the store: recorded without rendering.
    Recovered { job_id: Uuid },
    /// The job was already finished: a duplicate or late delivery.
    AlreadyDone { job_id: Uuid, status: Status },
    /// A batch's own work ran: its manifest's fan-out (`state` Fanout*) or its archive (Archive*).
    Batch { batch_id: Uuid, state: &'static str },
    /// The job failed for good (bad parameters, TeX error); recorded, not retried.
    Failed { job_id: Uuid, code: String },
}

impl Outcome {
    pub fn job_id(&self) -> Uuid {
        match self {
            Outcome::Rendered { job_id, .. }
            | Outcome::Recovered { job_id }
            | Outcome::AlreadyDone { job_id, .. }
            | Outcome::Failed { job_id, .. } => *job_id,
            Outcome::Batch { batch_id, .. } => *batch_id,
        }
    }

    /// Its name in log events.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Rendered { .. } => "Rendered",
            Outcome::Recovered { .. } => "Recovered",
            Outcome::AlreadyDone { .. } => "AlreadyDone",
            Outcome::Failed { .. } => "Failed",
            Outcome::Batch { state, .. } => state,
        }
    }
}

/// Why a message could not be handled this time.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rendering failed for a reason worth retrying: {0}")]
    Render(RenderError),
    #[error("another worker holds job {0} (lease still running)")]
    Busy(Uuid),
    #[error("job {0} changed under this worker (another delivery took it over)")]
    Lost(Uuid),
    #[error("the message is not a job message: {0}")]
    BadMessage(String),
    #[error("no job {0} in the store")]
    NoSuchJob(Uuid),
    #[error("the job took longer than its {0:.1?} deadline")]
    Deadline(Duration),
    #[error("the render task failed: {0}")]
    Panic(String),
    #[error("the job's webhook could not be queued: {0}")]
    Notify(String),
    #[error("signing the report failed: {0}")]
    Sign(String),
    #[error("{what} failed: {message}")]
    Batch { what: &'static str, message: String },
}

impl WorkerError {
    pub fn code(&self) -> &'static str {
        match self {
            WorkerError::Store(_) => "store_unavailable",
            WorkerError::Render(e) => e.code(),
            WorkerError::Busy(_) => "busy",
            WorkerError::Lost(_) => "lost_lease",
            WorkerError::BadMessage(_) => "bad_message",
            WorkerError::NoSuchJob(_) => "no_such_job",
            WorkerError::Deadline(_) => "deadline",
            WorkerError::Panic(_) => "panic",
            WorkerError::Notify(_) => "webhook_not_queued",
            WorkerError::Sign(_) => "sign_failed",
            WorkerError::Batch { .. } => "batch_work_failed",
        }
    }
}

/// One message's result, by message id.
#[derive(Debug)]
pub struct RecordResult {
    pub message_id: String,
    pub receipt_handle: Option<String>,
    pub result: Result<Outcome, WorkerError>,
}

pub struct Worker {
    store: Arc<dyn JobStore>,
    renderer: Arc<dyn Typesetter>,
    cfg: WorkerSettings,
    /// The DiAGRAM network, when configured: `diagram` reports then rank improvements.
    scorer: Option<Arc<Scorer>>,
    /// Who this worker is in a job's timeline: the Lambda log stream, or host:pid.
    id: String,
    /// Queues the final events of jobs with a callback (none: webhooks are off).
    notifier: Option<crate::webhook::Notifier>,
    deliverer: Option<crate::webhook::Deliverer>,
    /// Signs every PDF before upload, when a signing key is configured.
    signer: Option<crate::signing::Signer>,
    /// Fans manifests out to the bulk queue (none: a fan-out message is not handled).
    fanout: Option<crate::fanout::Fanout>,
}

/// This process as a job's timeline names it.
fn worker_id() -> String {
    if let Ok(stream) = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME") {
        return stream;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// Longest error message kept in a job record (a TeX log excerpt can be long).
const MAX_ERROR: usize = 2000;

fn safe_message(e: &RenderError) -> String {
    // Bundle and child errors carry paths, but those are transient and never recorded; the
    // permanent ones describe the caller's own document.
    let mut s = e.to_string();
    if s.len() > MAX_ERROR {
        let mut cut = MAX_ERROR;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str(" …");
    }
    s
}

impl Worker {
    pub fn new(store: Arc<dyn JobStore>, renderer: Arc<dyn Typesetter>, cfg: WorkerSettings, scorer: Option<Arc<Scorer>>) -> Self {
        Self { store, renderer, cfg, scorer, id: worker_id(), notifier: None, deliverer: None, signer: None, fanout: None }
    }

    /// Sends final events to callbacks through this delivery queue. It delivers them too (for
    /// `reportq worker`) only with signing secrets: the worker Lambda queues events and never
    /// signs, so it is not given the secrets (the webhook function signs).
    pub fn with_webhooks(
        mut self,
        queue: Arc<dyn crate::webhook::DeliveryQueue>,
        secrets: Option<crate::webhook::secrets::DeploymentSecrets>,
    ) -> Self {
        self.notifier = Some(crate::webhook::Notifier::new(self.store.clone(), queue.clone()));
        self.deliverer = secrets.map(|s| crate::webhook::Deliverer::new(self.store.clone(), queue, self.cfg.webhooks.clone(), s));
        self
    }

    /// Fans manifests out to `bulk` ([`crate::fanout`]); after [`Worker::with_webhooks`], so
    /// that a manifest's end can ask for its `batch.completed`.
    pub fn with_fanout(mut self, bulk: Arc<dyn crate::queue::JobQueue>) -> Self {
        let (store, scorer, me, max_backlog, notifier) =
            (self.store.clone(), self.scorer.clone(), self.id.clone(), self.cfg.max_backlog, self.notifier.clone());
        self.fanout = Some(crate::fanout::Fanout { store, queue: bulk, scorer, me, max_backlog, notifier, lease: crate::fanout::LEASE });
        self
    }

    /// Signs every PDF before it is uploaded ([`crate::signing`]).
    pub fn with_signer(mut self, signer: Option<crate::signing::Signer>) -> Self {
        self.signer = signer;
        self
    }

    /// What delivers the events this worker queues (`reportq worker` runs it beside the jobs).
    pub fn deliverer(&self) -> Option<&crate::webhook::Deliverer> {
        self.deliverer.as_ref()
    }

    /// Queues a finished job's events. An error leaves the job's message on the queue: its
    /// next delivery finds the job done and calls this again.
    async fn notify(&self, job: &Job) -> Result<(), WorkerError> {
        if !(job.callback.is_some() || job.notify_batch) {
            return Ok(());
        }
        let Some(n) = &self.notifier else {
            tracing::error!(job_id = %job.id, "the job has a callback but this worker has no delivery queue (REPORTQ_WEBHOOK_QUEUE_URL)");
            return Ok(());
        };
        // The batch's progress is read from the markers: this job's own is written again
        // (idempotent) so that a marker lost earlier cannot keep `batch.completed` from going.
        if let (true, Some(batch)) = (job.notify_batch, job.batch_id) {
            self.store.mark(batch, job.id, job.status).await?;
        }
        n.job_finished(job).await.map_err(|e| WorkerError::Notify(e.to_string()))
    }

    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.store
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.cfg
    }

    /// Expires jobs whose message can no longer arrive ([`crate::sweep`]).
    pub async fn sweep(&self) -> Result<crate::sweep::SweepReport, StoreError> {
        crate::sweep::sweep(self.store.as_ref(), now_epoch(), self.cfg.job_expiry.as_secs() as i64, self.notifier.as_ref()).await
    }

    fn last_delivery(&self, m: &SqsMessage) -> bool {
        let n: u32 = m.attributes.get("ApproximateReceiveCount").and_then(|v| v.parse().ok()).unwrap_or(1);
        n >= self.cfg.max_receive_count
    }

    /// The message goes to the DLQ after this delivery: mark its job `failed` so pollers stop
    /// waiting, and still report the failure so SQS moves the message.
    async fn give_up(&self, m: &SqsMessage, e: WorkerError) -> Result<Outcome, WorkerError> {
        if let Ok(msg) = parse_message(m)
            && let Ok(Some((job, etag))) = self.store.job(msg.job_id).await
            && !job.status.is_final()
            && !matches!(e, WorkerError::Busy(_))
        {
            let failed = job.failed(
                now_epoch(),
                JobError::pipeline(
                    FailureCode::RetriesExhausted,
                    format!(
                        "the job failed {} times for reasons worth retrying (last: {}); it was moved to the dead-letter queue",
                        self.cfg.max_receive_count,
                        e.code()
                    ),
                ),
            );
            if let Ok(Put::Written(_)) = self.store.replace_job(&failed, &etag).await {
                tracing::warn!(job_id = %job.id, "job marked failed (retries_exhausted)");
                metrics::count("JobsFailed", &[("Template", failed.template.as_str()), ("Code", FailureCode::RetriesExhausted.as_str())], 1.0);
                self.mark(&failed).await;
                if let Err(n) = self.notify(&failed).await {
                    tracing::warn!(job_id = %job.id, error = %n, "webhook of an expired-retries job not queued");
                }
            }
        }
        Err(e)
    }

    async fn process_one(&self, m: &SqsMessage, deadline: Duration, last: bool) -> Result<Outcome, WorkerError> {
        let msg = parse_message(m)?;
        let id = msg.job_id;
        let started = Instant::now();
        let mut waited = false;
        // Claim the job: compare-and-swap queued -> running. A lost race re-reads and decides
        // again; the loop ends because every write that beats us moves the job forward.
        let (job, etag) = loop {
            let Some((job, etag)) = self.store.job(id).await? else { return Err(WorkerError::NoSuchJob(id)) };
            let now = now_epoch();
            match job.claim(now) {
                Claim::Done => {
                    // A duplicate, or the redelivery after a webhook could not be queued.
                    self.notify(&job).await?;
                    return Ok(Outcome::AlreadyDone { job_id: id, status: job.status });
                }
                Claim::Busy if last && !waited => {
                    // After this delivery the message goes to the DLQ: if the lease's holder has
                    // died (killed mid-render), nothing would ever finish the job and it would
                    // stay `running` for good. Wait for the lease to run out, if it does within
                    // this delivery's deadline: a live holder finishes by then, a dead one's job
                    // is taken over here.
                    let left = Duration::from_secs((job.lease_until_epoch.unwrap_or(now) - now).max(0) as u64 + 1);
                    if started.elapsed() + left >= deadline {
                        return Err(WorkerError::Busy(id));
                    }
                    tracing::info!(job_id = %id, lease_until = ?job.lease_until_epoch, wait = ?left, "job leased and this is its last delivery: waiting for the lease");
                    tokio::time::sleep(left).await;
                    waited = true;
                    continue;
                }
                Claim::Busy => return Err(WorkerError::Busy(id)),
                Claim::Take => {
                    // The lease outlives the deadline a little, so it never ends while we run.
                    let claimed_ms = now_ms();
                    let mut running = job.running(now, deadline.as_secs() as i64 + 5);
                    let mut claimed = Event::new(EventKind::Claimed, claimed_ms);
                    (claimed.attempt, claimed.worker) = (Some(running.attempts), Some(self.id.clone()));
                    running = running.with_event(claimed);
                    if let Put::Written(etag) = self.store.replace_job(&running, &etag).await? {
                        // One event per claim, with a millisecond clock: what a soak test or an
                        // operator reads to see which process had a job and how long it queued.
                        tracing::info!(job_id = %id, claimed_ms, attempt = running.attempts, template = running.template, "job claimed");
                        if running.attempts == 1 {
                            let waited_ms = (claimed_ms - running.created_at_epoch * 1000).max(0) as f64;
                            metrics::observe("QueueWaitMs", &[("Lane", msg.lane.as_str())], waited_ms);
                        }
                        break (running, etag);
                    }
                }
            }
        };
        let span = tracing::Span::current();
        span.record("template", job.template.as_str()).record("attempt", job.attempts);
        if let Some(b) = job.batch_id {
            span.record("batch_id", b.to_string());
        }
        if let Some(t) = &job.trace_id
            && !m.attributes.contains_key("AWSTraceHeader")
        {
            span.record("trace_id", t.as_str());
        }
        self.mark(&job).await;
        match self.run_claimed(&job, &etag, msg.lane).await {
            Err(e) if !matches!(e, WorkerError::Lost(_)) => {
                // Hand the job back at once rather than make the next delivery wait out the
                // lease; if even this write fails, the lease runs out by itself.
                let mut failed = Event::new(EventKind::AttemptFailed, now_ms());
                (failed.attempt, failed.worker, failed.code) = (Some(job.attempts), Some(self.id.clone()), Some(e.code().to_string()));
                let queued = Job { status: Status::Queued, lease_until_epoch: None, updated_at_epoch: now_epoch(), ..job.clone() }.with_event(failed);
                let _ = self.store.replace_job(&queued, &etag).await;
                Err(e)
            }
            r => r,
        }
    }

    /// Records a batch job's new status; a lost marker only makes a batch poll lag.
    async fn mark(&self, job: &Job) {
        if let Some(batch) = job.batch_id
            && let Err(e) = self.store.mark(batch, job.id, job.status).await
        {
            tracing::warn!(job_id = %job.id, error = %e, "batch marker not written");
        }
    }

    async fn run_claimed(&self, job: &Job, etag: &str, lane: Lane) -> Result<Outcome, WorkerError> {
        let id = job.id;
        // An earlier attempt may have uploaded the PDF and died before recording it: the same
        // request and date give the same bytes, so that PDF is this job's, no render needed.
        let template = [("Template", job.template.as_str())];
        let mut job = job.clone();
        let (output, outcome) = match self.store.report_info(id).await? {
            Some(out) => {
                job = job.with_event(Event::new(EventKind::Recovered, now_ms()));
                (out, Outcome::Recovered { job_id: id })
            }
            None => {
                let t = Instant::now();
                match self.render(&job, lane).await {
                    Ok(crate::render::Rendered { pdf, sandbox, slot_wait, .. }) => {
                        // The render itself, not the wait for a free render slot before it.
                        let render_ms = t.elapsed().saturating_sub(slot_wait).as_millis() as u64;
                        metrics::observe("RenderMs", &template, render_ms as f64);
                        metrics::observe("PdfBytes", &template, pdf.len() as f64);
                        let mut rendered = Event::new(EventKind::Rendered, now_ms());
                        rendered.ms = Some(render_ms);
                        rendered.sandbox = Some(sandbox.clone());
                        // Signed with the job's date: a retry signs to the same bytes, so the
                        // create-only upload finds its earlier copy identical.
                        let pdf = match &self.signer {
                            Some(signer) => signer.sign_pdf(pdf, job.created_at_epoch).await.map_err(WorkerError::Sign)?,
                            None => pdf,
                        };
                        let t = Instant::now();
                        let out = self.upload(id, pdf).await?;
                        let upload_ms = t.elapsed().as_millis() as u64;
                        metrics::observe("UploadMs", &[], upload_ms as f64);
                        let mut uploaded = Event::new(EventKind::Uploaded, now_ms());
                        uploaded.ms = Some(upload_ms);
                        job = job.with_event(rendered).with_event(uploaded);
                        tracing::info!(job_id = %id, render_ms, upload_ms, pdf_bytes = out.size, sandbox, "job rendered and uploaded");
                        let size = out.size;
                        (out, Outcome::Rendered { job_id: id, size })
                    }
                    Err(e) if e.is_permanent() => {
                        let failed = job.failed(now_epoch(), JobError { code: e.code().into(), message: safe_message(&e) });
                        self.finish(&failed, etag).await?;
                        return Ok(Outcome::Failed { job_id: id, code: e.code().into() });
                    }
                    Err(e) => {
                        if let RenderError::SandboxUnavailable(note) = &e {
                            tracing::error!(job_id = %id, sandbox = note.as_str(), "render refused: a required sandbox layer is missing (REPORTQ_REQUIRE_SANDBOX); the job goes back to the queue");
                            metrics::count("RendersRefused", &[("Template", job.template.as_str())], 1.0);
                        }
                        return Err(WorkerError::Render(e));
                    }
                }
            }
        };
        self.finish(&job.succeeded(now_epoch(), output), etag).await?;
        Ok(outcome)
    }

    async fn render(&self, job: &Job, lane: Lane) -> Result<crate::render::Rendered, RenderError> {
        // The API stored the request with whatever it computed (missing scores), so no
        // network is needed to parse it; the worker's own network adds improvements.
        let req = ReportRequest::parse(&job.request, self.scorer.as_deref())?;
        let renderer = self.renderer.clone();
        // The job's creation date, never the clock now: a retry renders byte-identical output.
        let ctx = RenderContext::new(Date::from_epoch(job.created_at_epoch), req.pdf.standard)
            .with_scorer(self.scorer.clone())
            .with_lane(lane)
            .with_source(job.request.clone(), Some(job.id));
        match tokio::task::spawn_blocking(move || renderer.render(&req, &ctx)).await {
            Ok(r) => r,
            Err(e) => Err(RenderError::Child(format!("render task: {e}"))),
        }
    }

    /// Uploads the PDF once: create-only, so a second writer cannot replace an object a reader
    /// may be downloading. If one is there already it came from an earlier attempt at the same
    /// job; its hash is compared, and only a differing object (which would mean the render is
    /// not deterministic) is replaced.
    async fn upload(&self, id: Uuid, pdf: Vec<u8>) -> Result<Output, WorkerError> {
        let sha = hex::encode(Sha256::digest(&pdf));
        let size = pdf.len() as u64;
        if let Some(out) = self.store.create_report(id, pdf.clone(), &sha).await? {
            return Ok(out);
        }
        match self.store.report_info(id).await? {
            Some(existing) if existing.sha256 == sha && existing.size == size => Ok(existing),
            _ => {
                tracing::warn!(job_id = %id, "report existed with another hash; replacing it");
                Ok(self.store.overwrite_report(id, pdf, &sha).await?)
            }
        }
    }

    /// Writes the final record over our `running` one. If the record changed meanwhile, our
    /// lease was taken over: whatever the other worker wrote stands.
    async fn finish(&self, done: &Job, etag: &str) -> Result<(), WorkerError> {
        match self.store.replace_job(done, etag).await? {
            Put::Written(_) => {
                self.mark(done).await;
                self.notify(done).await?;
                tracing::info!(job_id = %done.id, status = done.status.as_str(), "job finished");
                match &done.error {
                    None => metrics::count("JobsSucceeded", &[("Template", done.template.as_str())], 1.0),
                    Some(e) => metrics::count("JobsFailed", &[("Template", done.template.as_str()), ("Code", e.code.as_str())], 1.0),
                }
                Ok(())
            }
            Put::Conflict => match self.store.job(done.id).await? {
                // Final already (our own write retried by the SDK, or a takeover): its marker
                // and events as for any final record (both idempotent).
                Some((j, _)) if j.status.is_final() => {
                    self.mark(&j).await;
                    self.notify(&j).await
                }
                _ => Err(WorkerError::Lost(done.id)),
            },
        }
    }
}

fn parse_message(m: &SqsMessage) -> Result<JobMessage, WorkerError> {
    let body = m.body.as_deref().unwrap_or_default();
    serde_json::from_str(body).map_err(|e| WorkerError::BadMessage(e.to_string()))
}
