//! Jobs: one report request on its way to a PDF, and the rules of how its record may move.
//!
//! SQS delivers a message at least once, so the worker may see a job twice, late, or while
//! another worker has it. Every status change is a compare-and-swap on the record's ETag, and
//! the rules in [`Job::claim`] make a finished job final: a duplicate or late message finds
//! `succeeded` or `failed` and stops, and a second worker backs off while the first one's
//! lease runs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use super::webhook::Callback;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Queued, Status::Running, Status::Succeeded, Status::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed)
    }
}

/// Why a job failed, in words safe to show the caller (no paths, no internals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

impl JobError {
    /// A failure the pipeline itself records, with its own message.
    pub fn pipeline(code: FailureCode, message: impl Into<String>) -> JobError {
        JobError { code: code.as_str().into(), message: message.into() }
    }

    /// Failures that say nothing about the request (it never reached the queue, or every
    /// delivery hit an outage): submitting the same request again may well succeed.
    pub fn is_transient(&self) -> bool {
        matches!(FailureCode::parse(&self.code), Some(FailureCode::EnqueueFailed | FailureCode::RetriesExhausted))
    }
}

/// The failures the pipeline records itself; a render's own failures carry the renderer's
/// code (`RenderError::code`). One spelling each, for records, metrics and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// The job was stored but its message could not be sent.
    EnqueueFailed,
    /// Every delivery failed for a reason worth retrying; the message went to the DLQ.
    RetriesExhausted,
    /// The job was not rendered before its queue message expired (the sweep).
    Expired,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::EnqueueFailed => "enqueue_failed",
            FailureCode::RetriesExhausted => "retries_exhausted",
            FailureCode::Expired => "expired",
        }
    }

    pub fn parse(code: &str) -> Option<FailureCode> {
        [FailureCode::EnqueueFailed, FailureCode::RetriesExhausted, FailureCode::Expired].into_iter().find(|c| c.as_str() == code)
    }
}

/// Where the finished PDF is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

/// A job record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<Uuid>,
    pub template: String,
    /// The validated request as submitted (`{"template", "params", "pdf"?}`): the only copy the
    /// worker renders from.
    pub request: serde_json::Value,
    pub status: Status,
    /// Seconds since 1970. Also the report's date, so a retried render writes the same bytes.
    pub created_at_epoch: i64,
    pub updated_at_epoch: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_epoch: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_epoch: Option<i64>,
    /// Renders started (takeovers of an expired lease count).
    pub attempts: u32,
    /// While `running`: until when the worker that has the job may keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until_epoch: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Output>,
    /// The trace this job belongs to (W3C hex), set at submit: what connects the API's and the
    /// worker's lines and spans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// What happened to the job, oldest first (at most [`MAX_TIMELINE`] entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Event>,
    /// Who made the job (`key:{id}`, `jwt:{sub}`): only that caller may read it. `None`: made
    /// with authentication off, or by DiAGRAM's open routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Where to POST the job's final event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<Callback>,
    /// The job's batch has a callback: whoever finishes the batch's last job sends
    /// `batch.completed`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notify_batch: bool,
}

/// The most timeline entries a record keeps: the first (`queued`) and the latest others.
pub const MAX_TIMELINE: usize = 40;

/// One step of a job's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since 1970.
    pub at_ms: i64,
    pub event: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Which worker (a Lambda log stream, or host:pid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// How long the step took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    /// The error code of a failed attempt or job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What confined the render (`rendered` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Queued,
    Claimed,
    Rendered,
    Uploaded,
    /// An earlier attempt's PDF was found and recorded without rendering again.
    Recovered,
    /// An attempt failed for a reason worth retrying; the message goes back to the queue.
    AttemptFailed,
    Succeeded,
    Failed,
}

impl Event {
    pub fn new(event: EventKind, at_ms: i64) -> Event {
        Event { at_ms, event, attempt: None, worker: None, ms: None, code: None, sandbox: None }
    }
}

/// Milliseconds since 1970.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// What a worker holding a message may do with the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Queued, or running under a lease that has run out (its worker died): take it.
    Take,
    /// Another worker holds a live lease: leave the message for later.
    Busy,
    /// Already finished: a duplicate or late message, nothing to do.
    Done,
}

pub use super::now_epoch;

impl Job {
    pub fn new(id: Uuid, batch_id: Option<Uuid>, template: &str, request: serde_json::Value, now: i64) -> Job {
        Job {
            id,
            batch_id,
            template: template.to_string(),
            request,
            status: Status::Queued,
            created_at_epoch: now,
            updated_at_epoch: now,
            started_at_epoch: None,
            finished_at_epoch: None,
            attempts: 0,
            lease_until_epoch: None,
            error: None,
            output: None,
            trace_id: None,
            timeline: vec![Event::new(EventKind::Queued, now * 1000)],
            owner: None,
            callback: None,
            notify_batch: false,
        }
    }

    /// The job with `event` added to its timeline (the oldest but the first dropped past
    /// [`MAX_TIMELINE`]).
    pub fn with_event(mut self, event: Event) -> Job {
        if self.timeline.len() >= MAX_TIMELINE {
            self.timeline.remove(1);
        }
        self.timeline.push(event);
        self
    }

    pub fn claim(&self, now: i64) -> Claim {
        match self.status {
            Status::Succeeded | Status::Failed => Claim::Done,
            Status::Queued => Claim::Take,
            Status::Running if self.lease_until_epoch.is_none_or(|t| t <= now) => Claim::Take,
            Status::Running => Claim::Busy,
        }
    }

    pub fn running(&self, now: i64, lease_secs: i64) -> Job {
        Job {
            status: Status::Running,
            started_at_epoch: Some(now),
            updated_at_epoch: now,
            attempts: self.attempts + 1,
            lease_until_epoch: Some(now + lease_secs),
            ..self.clone()
        }
    }

    /// The time of a new last event: `now`, or just after the last one (whose clock may be in
    /// milliseconds while `now` is in seconds), so the timeline stays in order.
    fn next_ms(&self, now: i64) -> i64 {
        self.timeline.last().map_or(now * 1000, |e| e.at_ms.max(now * 1000))
    }

    pub fn succeeded(&self, now: i64, output: Output) -> Job {
        let at = self.next_ms(now);
        Job {
            status: Status::Succeeded,
            updated_at_epoch: now,
            finished_at_epoch: Some(now),
            lease_until_epoch: None,
            error: None,
            output: Some(output),
            ..self.clone()
        }
        .with_event(Event::new(EventKind::Succeeded, at))
    }

    pub fn failed(&self, now: i64, error: JobError) -> Job {
        let mut event = Event::new(EventKind::Failed, self.next_ms(now));
        event.code = Some(error.code.clone());
        Job {
            status: Status::Failed,
            updated_at_epoch: now,
            finished_at_epoch: Some(now),
            lease_until_epoch: None,
            error: Some(error),
            output: None,
            ..self.clone()
        }
        .with_event(event)
    }

    /// The download's file name: what DiAGRAM's frontend calls its reports
    /// (`models-YYYY-MM-DD.pdf`), `{template}-YYYY-MM-DD.pdf` for the others.
    pub fn filename(&self) -> String {
        let date = super::Date::from_epoch(self.created_at_epoch).iso();
        let stem = if self.template == "diagram" { "models" } else { self.template.as_str() };
        let clean: String = stem.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        format!("{clean}-{date}.pdf")
    }
}

/// A batch record: the jobs of one `POST /v1/reports/batch`, in request order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub id: Uuid,
    pub created_at_epoch: i64,
    /// Empty for a manifest batch: its jobs are its valid lines' [`item_id`]s.
    pub job_ids: Vec<Uuid>,
    /// A bulk run from an uploaded JSONL file ([`super::manifest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<super::manifest::Manifest>,
    /// Who made the batch (see [`Job::owner`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Where to POST `batch.completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<Callback>,
}

/// `2026-11-25T17:44:03Z` for seconds since 1970.
pub fn rfc3339(epoch: i64) -> String {
    let d = super::Date::from_epoch(epoch);
    let s = epoch.rem_euclid(86_400);
    format!("{}T{:02}:{:02}:{:02}Z", d.iso(), s / 3600, s / 60 % 60, s % 60)
}

/// Which queue a job travels by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// Someone is waiting for this one report.
    Interactive,
    /// Batches: throughput, not latency. Messages sent before lanes existed read as bulk.
    #[default]
    Bulk,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Bulk => "bulk",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job::new(Uuid::new_v4(), None, "diagram", serde_json::json!({}), 1_000)
    }

    #[test]
    fn finished_jobs_stay_finished() {
        let j = job();
        assert_eq!(j.claim(1_000), Claim::Take);
        let r = j.running(1_000, 60);
        assert_eq!(r.claim(1_030), Claim::Busy, "live lease");
        assert_eq!(r.claim(1_060), Claim::Take, "expired lease: the worker died");
        let out = Output { key: "k".into(), size: 1, sha256: "00".into() };
        assert_eq!(r.succeeded(1_010, out).claim(5_000), Claim::Done);
        let f = r.failed(1_010, JobError { code: "tex_error".into(), message: "m".into() });
        assert_eq!(f.claim(5_000), Claim::Done);
        assert_eq!(r.running(1_100, 60).attempts, 2);
    }

    #[test]
    fn filenames() {
        let mut j = job();
        j.created_at_epoch = 1_795_000_000;
        assert_eq!(j.filename(), "models-2026-11-18.pdf");
        j.template = "summary".into();
        assert_eq!(j.filename(), "summary-2026-11-18.pdf");
    }

    #[test]
    fn status_order_is_progress() {
        assert!(Status::Queued < Status::Running && Status::Running < Status::Succeeded);
    }
}

/// The id of a batch's `index`th job: the batch id's first twelve bytes (with the UUID version
/// set to 8, "custom", so it can never equal a random v4 id) and the index. A job id then says
/// which batch stored it and where, so a batch's jobs can be kept as a few chunk records
/// instead of one record each (what lets 1,000 jobs be accepted in one second; see
/// [`crate::store`]); reading them still needs the batch's owner (every route checks it).
pub fn item_id(batch: Uuid, index: u32) -> Uuid {
    let mut b = *batch.as_bytes();
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    b[12..].copy_from_slice(&index.to_be_bytes());
    Uuid::from_bytes(b)
}

/// What [`item_id`] made an id from: the batch's twelve-byte prefix (hex) and the index;
/// `None` for any other id.
pub fn item_of(id: Uuid) -> Option<(String, u32)> {
    let b = id.as_bytes();
    if id.get_version_num() != 8 {
        return None;
    }
    Some((hex::encode(&b[..12]), u32::from_be_bytes([b[12], b[13], b[14], b[15]])))
}

#[cfg(test)]
mod item_tests {
    use super::*;

    #[test]
    fn item_ids_name_their_batch_and_index_and_differ_from_random_ids() {
        let batch = Uuid::new_v4();
        let a = item_id(batch, 0);
        let b = item_id(batch, 99_999);
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 8);
        assert_eq!(item_of(a).unwrap().1, 0);
        assert_eq!(item_of(b), Some((hex::encode(&item_id(batch, 7).as_bytes()[..12]), 99_999)));
        assert_eq!(item_of(batch), None, "a v4 id is no item");
        assert_ne!(item_of(item_id(Uuid::new_v4(), 0)).unwrap().0, item_of(a).unwrap().0);
    }
}
