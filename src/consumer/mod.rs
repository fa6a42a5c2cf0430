//! One SQS consumer shape for every queue reportq reads (the render queues, the webhook
//! delivery queue), as the Lambda event source drives a function and as `reportq worker`
//! drives itself (aws-lambda-rust-runtime's `advanced-sqs-partial-batch-failures`):
//!
//! - a [`Handler`] takes a batch of records and says, per record, whether it was handled;
//! - on Lambda, [`batch_response`] turns that into partial batch failures (the event source
//!   deletes the rest);
//! - locally, [`poll_once`] long-polls a [`Source`], hands the batch to the handler and deletes
//!   what was handled, and [`run`] repeats it until told to stop, with one back-off
//!   (500 ms doubling to 20 s) after a failed poll.
//!
//! A record that was not handled is left alone: it comes back after its visibility timeout,
//! and after the queue's receive limit it moves to the DLQ for a person. Every handler is
//! safe to repeat (SQS is at-least-once).

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};

use crate::queue::QueueError;

pub use crate::queue::Source;

/// One record's result: whether it may be deleted.
pub trait Handled {
    fn handled(&self) -> bool;
}

impl Handled for bool {
    fn handled(&self) -> bool {
        *self
    }
}

/// What a consumer does with a batch: one result per record, in the records' order.
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    type Result: Handled + Send;
    async fn handle_batch(&self, records: &[SqsMessage]) -> Vec<Self::Result>;
}

/// Partial batch failures: the records (by message id) to deliver again.
pub fn batch_response<R: Handled>(records: &[SqsMessage], results: &[R]) -> SqsBatchResponse {
    let mut resp = SqsBatchResponse::default();
    for (m, r) in records.iter().zip(results) {
        if !r.handled() {
            resp.add_failure(m.message_id.clone().unwrap_or_default());
        }
    }
    resp
}

/// One long poll of `source`, handled as a Lambda invocation would be; handled records are
/// deleted, the others come back after their visibility timeout.
pub async fn poll_once<H: Handler + ?Sized>(handler: &H, source: &dyn Source, wait: Duration) -> Result<Vec<H::Result>, QueueError> {
    // A long poll answers within `wait`; one that does not has lost its connection (the SDK's
    // own attempt limit is longer): give up on it and poll again.
    let limit = wait + Duration::from_secs(10);
    let msgs = match tokio::time::timeout(limit, source.receive(10, wait)).await {
        Ok(r) => r?,
        Err(_) => return Err(QueueError { op: "ReceiveMessage", message: format!("no answer within {limit:?}") }),
    };
    if msgs.is_empty() {
        return Ok(Vec::new());
    }
    let results = handler.handle_batch(&msgs).await;
    let done: Vec<String> = msgs.iter().zip(&results).filter(|(_, r)| r.handled()).filter_map(|(m, _)| m.receipt_handle.clone()).collect();
    // Not deleted in time: the messages come back, and their handlers find the work done.
    match tokio::time::timeout(Duration::from_secs(30), source.delete(&done)).await {
        Ok(r) => r?,
        Err(_) => return Err(QueueError { op: "DeleteMessageBatch", message: "no answer within 30 s".into() }),
    }
    Ok(results)
}

/// Polls `source` until `stop` resolves.
pub async fn run<H: Handler + ?Sized>(handler: &H, source: &dyn Source, wait: Duration, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut backoff = Duration::from_millis(500);
    loop {
        let t = Instant::now();
        tokio::select! {
            _ = &mut stop => return,
            r = poll_once(handler, source, wait) => match r {
                Ok(_) => backoff = Duration::from_millis(500),
                Err(e) => {
                    tracing::warn!(queue = source.url(), error = %e, retry_in = ?backoff, "polling the queue failed");
                    tokio::time::sleep(backoff.saturating_sub(t.elapsed())).await;
                    backoff = (backoff * 2).min(Duration::from_secs(20));
                }
            }
        }
    }
}
