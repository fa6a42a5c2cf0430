//! The API's answers as types, shared by the handlers that write them, the client
//! (`reportq submit`) that reads them, and the OpenAPI document's tests.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::job::{Batch, EventKind, Job, JobError, Status, rfc3339};
use crate::domain::webhook::{Delivery, DeliveryState, EventType};

/// `2026-11-25T17:44:03.123Z` for milliseconds since 1970.
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = rfc3339(ms.div_euclid(1000));
    format!("{}.{:03}Z", secs.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// Where a job can be fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobLinks {
    #[serde(rename = "self")]
    pub this: String,
    pub pdf: String,
}

impl JobLinks {
    pub fn new(id: Uuid) -> Self {
        Self { this: format!("/v1/reports/{id}"), pdf: format!("/v1/reports/{id}/pdf") }
    }
}

/// `202` to `POST /v1/reports` (and `/api/report/pdf` when it answers async).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    pub job_id: Uuid,
    pub status: Status,
    pub created_at: String,
    pub links: JobLinks,
}

impl Submitted {
    pub fn of(job: &Job) -> Self {
        Self { job_id: job.id, status: job.status, created_at: rfc3339(job.created_at_epoch), links: JobLinks::new(job.id) }
    }
}

/// A finished job's download.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// A presigned URL, fresh on every read (it dies with the credentials that signed it).
    pub url: String,
    pub expires_at: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
}

/// `GET /v1/reports/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub job_id: Uuid,
    pub status: Status,
    pub template: String,
    pub created_at: String,
    pub updated_at: String,
    pub attempts: u32,
    pub links: JobLinks,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<JobResult>,
    /// The trace id (W3C hex) the API gave the job: search the logs or X-Ray by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// What happened to the job, oldest first.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// The callback's delivery, when the job has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookView>,
}

/// One step of a job's life, as `GET /v1/reports/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// RFC 3339 with milliseconds.
    pub at: String,
    pub event: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    // Not the worker that took the step: its host and pid (or Lambda log stream) are the
    // operator's, kept in the record and the logs, never shown to callers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What confined the render (`rendered` only): the sandbox layers that held, `io+seccomp+landlock`
    /// where the kernel allows them, `io` alone on AWS Lambda.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

impl JobView {
    /// The view of a record; `result` is filled in by the caller for a succeeded job.
    pub fn of(job: &Job) -> Self {
        Self {
            job_id: job.id,
            status: job.status,
            template: job.template.clone(),
            created_at: rfc3339(job.created_at_epoch),
            updated_at: rfc3339(job.updated_at_epoch),
            attempts: job.attempts,
            links: JobLinks::new(job.id),
            batch_id: job.batch_id,
            started_at: job.started_at_epoch.map(rfc3339),
            finished_at: job.finished_at_epoch.map(rfc3339),
            error: job.error.clone(),
            result: None,
            trace_id: job.trace_id.clone(),
            timeline: job
                .timeline
                .iter()
                .map(|e| TimelineEntry {
                    at: rfc3339_ms(e.at_ms),
                    event: e.event,
                    attempt: e.attempt,
                    ms: e.ms,
                    code: e.code.clone(),
                    sandbox: e.sandbox.clone(),
                })
                .collect(),
            webhook: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchLinks {
    #[serde(rename = "self")]
    pub this: String,
}

/// `202` to `POST /v1/reports/batch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSubmitted {
    pub batch_id: Uuid,
    pub count: usize,
    /// In request order.
    pub job_ids: Vec<Uuid>,
    pub created_at: String,
    pub links: BatchLinks,
}

impl BatchSubmitted {
    pub fn of(batch: &Batch) -> Self {
        Self {
            batch_id: batch.id,
            count: batch.job_ids.len(),
            job_ids: batch.job_ids.clone(),
            created_at: rfc3339(batch.created_at_epoch),
            links: BatchLinks { this: format!("/v1/batches/{}", batch.id) },
        }
    }
}

/// Jobs per status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub queued: usize,
    pub running: usize,
    pub succeeded: usize,
    pub failed: usize,
}

impl Counts {
    pub fn add(&mut self, s: Status) {
        match s {
            Status::Queued => self.queued += 1,
            Status::Running => self.running += 1,
            Status::Succeeded => self.succeeded += 1,
            Status::Failed => self.failed += 1,
        }
    }
}

/// One job in a batch page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchJob {
    pub job_id: Uuid,
    pub status: Status,
    pub links: JobLinks,
}

/// `GET /v1/batches/{id}`: one page of jobs and the whole batch's counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchView {
    pub batch_id: Uuid,
    pub created_at: String,
    pub total: usize,
    pub done: bool,
    pub counts: Counts,
    pub jobs: Vec<BatchJob>,
    pub next_cursor: Option<String>,
    /// The `batch.completed` delivery, when the batch has a callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookView>,
    /// A manifest batch's fan-out (its jobs are its valid lines; `total` grows as they are read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestView>,
}

/// Where a manifest's fan-out stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestView {
    /// Lines declared at creation.
    pub lines: u32,
    /// `awaiting_upload` (not started), `fanning_out`, `done` (every line read).
    pub state: String,
    pub lines_read: u32,
    /// Lines that became jobs, lines that failed (in `errors.jsonl`).
    pub validated: u32,
    pub invalid: u32,
    /// `errors.jsonl` (one `{line, field, message}` a line), once every line was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors_url: Option<String>,
}

/// A batch's archive (`/v1/batches/{id}/archive`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveView {
    pub batch_id: Uuid,
    /// `building`, `ready` or `failed`.
    pub state: String,
    /// Built while the batch still had jobs to finish: only the reports finished then.
    pub partial: bool,
    /// PDFs in the ZIP; rows of its `manifest.csv` (one a job or line).
    pub reports: u32,
    pub rows: u32,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub requested_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_at: Option<String>,
    /// A fresh presigned download, when `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub links: ArchiveLinks,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveLinks {
    #[serde(rename = "self")]
    pub this: String,
    pub batch: String,
}

/// `201` to `POST /v1/batches`: where to upload the manifest, and how to start it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestCreated {
    pub batch_id: Uuid,
    pub lines: u32,
    pub created_at: String,
    pub upload: Upload,
    pub links: ManifestLinks,
}

/// A presigned upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub method: String,
    pub url: String,
    pub expires_at: String,
    pub max_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestLinks {
    #[serde(rename = "self")]
    pub this: String,
    /// `POST` here once the file is uploaded.
    pub start: String,
}

/// A callback's delivery, as the job or batch shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookView {
    /// The `webhook-id` header of every attempt.
    pub id: String,
    pub event: EventType,
    pub url: String,
    pub state: DeliveryState,
    pub attempts: Vec<WebhookAttempt>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookAttempt {
    pub attempt: u32,
    /// RFC 3339 with milliseconds.
    pub at: String,
    /// The receiver's HTTP status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl WebhookView {
    pub fn of(d: Delivery) -> WebhookView {
        WebhookView {
            id: d.webhook_id,
            event: d.event,
            url: d.url,
            state: d.state,
            attempts: d
                .attempts
                .into_iter()
                .map(|a| WebhookAttempt { attempt: a.attempt, at: rfc3339_ms(a.at_ms), status: a.status, latency_ms: a.latency_ms, error: a.error })
                .collect(),
        }
    }
}

/// One bad item of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemError {
    pub index: usize,
    pub field: String,
    pub message: String,
}

/// Every error answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// The old DiAGRAM answer's `status: false`, on its validation route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<bool>,
    /// The job a failed `/api/report/pdf` made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ItemError>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_error: Option<JobError>,
}

/// `{"status": true}` from `/api/validation/validate_json`, `{"alive": true}` from `is_alive`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Valid {
    pub status: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alive {
    pub alive: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`, or `degraded` when S3 or the queue did not answer (the status is then 503).
    pub status: String,
    pub version: String,
    /// The git commit the binary was built from (`unknown` outside a checkout).
    pub commit: String,
    pub scoring: bool,
    /// Whether the bucket answered (checked at most every few seconds).
    pub s3: bool,
    /// Whether the queues answered.
    pub queue: bool,
}

/// `GET /v1/templates`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Templates {
    pub templates: Vec<TemplateView>,
}

/// One template: its parameters in words and as a JSON Schema, and a whole example request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateView {
    pub name: String,
    pub description: String,
    /// A JSON Schema (draft 07) of the request's `params`.
    pub schema: Value,
    /// A request that renders: `{"template": ..., "params": ...}`.
    pub example: Value,
}
