//! The job queue: one small message per job, `{"job_id": "...", "lane": "bulk"}`. Messages carry
//! no parameters: the job record is the one copy of the request, so a message can be delivered
//! twice, late, or by hand without ever rendering something nobody submitted.
//!
//! There are two lanes, each its own SQS queue: `interactive` (one report a person waits for:
//! DiAGRAM's PDF route, a single `POST /v1/reports`) and `bulk` (batches). A worker takes
//! interactive messages first and renders them at a higher CPU priority, so a person's report
//! never waits behind a 1,000-report batch.
//!
//! [`JobQueue`] is what submission needs (send); [`SqsQueue`] also receives and deletes for
//! `reportq worker`, and [`MemoryQueue`] holds messages for the domain tests.

pub mod sqs;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::domain::job::Lane;
use crate::domain::trace::Trace;
pub use sqs::SqsQueue;

/// The queue could not be reached, refused a message, or kept failing some of a batch.
#[derive(Debug, Clone, thiserror::Error)]
#[error("SQS {op} failed: {message}")]
pub struct QueueError {
    pub op: &'static str,
    pub message: String,
}

/// The body of a job message.
#[derive(Debug, Clone, Copy, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: Uuid,
    #[serde(default)]
    pub lane: Lane,
    /// The submit's trace: sent beside the body, as SQS's `AWSTraceHeader` system attribute.
    #[serde(skip)]
    pub trace: Option<Trace>,
}

/// Two messages are the same message when they name the same job on the same lane; the trace
/// is transport metadata.
impl PartialEq for JobMessage {
    fn eq(&self, other: &Self) -> bool {
        (self.job_id, self.lane) == (other.job_id, other.lane)
    }
}

impl JobMessage {
    pub fn new(job_id: Uuid, lane: Lane) -> Self {
        Self { job_id, lane, trace: None }
    }

    pub fn traced(mut self, trace: Option<Trace>) -> Self {
        self.trace = trace;
        self
    }

    pub fn bulk(job_id: Uuid) -> Self {
        Self::new(job_id, Lane::Bulk)
    }

    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("serialises")
    }
}

/// Where submission sends job messages.
#[async_trait::async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    async fn send(&self, msg: &JobMessage) -> Result<(), QueueError>;
    /// Sends every message (in batches where the queue has them); the error says how many
    /// never got through.
    async fn send_all(&self, msgs: &[JobMessage]) -> Result<(), QueueError>;
    /// Sends a message that is not a job's (a manifest's fan-out), visible after `delay`.
    async fn send_raw(&self, body: &str, delay: std::time::Duration) -> Result<(), QueueError>;
    /// Whether the queue answers at all (`/healthz`).
    async fn ping(&self) -> Result<(), QueueError>;
    /// Messages waiting to be taken (SQS: ApproximateNumberOfMessages): the backlog the API's
    /// admission control reads.
    async fn depth(&self) -> Result<u64, QueueError>;
}

/// Messages in memory, in the order sent.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    messages: Mutex<Vec<JobMessage>>,
    /// Other messages' bodies ([`JobQueue::send_raw`]), in the order sent.
    raw: Mutex<Vec<String>>,
    down: AtomicBool,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every send fail (`true`) or work again, like an SQS outage.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Takes every message sent so far.
    pub fn drain(&self) -> Vec<JobMessage> {
        std::mem::take(&mut *self.messages.lock().unwrap())
    }

    /// Takes every other message (a fan-out's) sent so far.
    pub fn drain_raw(&self) -> Vec<String> {
        std::mem::take(&mut *self.raw.lock().unwrap())
    }

    pub fn len(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check(&self, op: &'static str) -> Result<(), QueueError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError { op, message: "the in-memory queue is down".into() });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl JobQueue for MemoryQueue {
    async fn send(&self, msg: &JobMessage) -> Result<(), QueueError> {
        self.check("SendMessage")?;
        self.messages.lock().unwrap().push(*msg);
        Ok(())
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.check("GetQueueAttributes")
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        self.check("GetQueueAttributes")?;
        Ok(self.len() as u64)
    }

    async fn send_all(&self, msgs: &[JobMessage]) -> Result<(), QueueError> {
        self.check("SendMessageBatch")?;
        self.messages.lock().unwrap().extend_from_slice(msgs);
        Ok(())
    }

    async fn send_raw(&self, body: &str, _delay: std::time::Duration) -> Result<(), QueueError> {
        self.check("SendMessage")?;
        self.raw.lock().unwrap().push(body.to_string());
        Ok(())
    }
}

/// Where webhook delivery messages go ([`crate::webhook`]).
#[async_trait::async_trait]
pub trait DeliveryQueue: Send + Sync + std::fmt::Debug {
    async fn send_delivery(&self, msg: &crate::domain::webhook::DeliveryMessage, delay: std::time::Duration) -> Result<(), QueueError>;
}

/// A queue to long-poll: what `reportq worker` reads instead of an event source mapping.
#[async_trait::async_trait]
pub trait Source: Send + Sync {
    fn url(&self) -> &str;
    /// Up to `max` messages, waiting up to `wait` for the first.
    async fn receive(&self, max: i32, wait: std::time::Duration) -> Result<Vec<aws_lambda_events::event::sqs::SqsMessage>, QueueError>;
    /// Deletes handled messages by their receipt handles.
    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError>;
}
