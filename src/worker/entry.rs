//! How messages reach the worker: the Lambda entry points (an SQS batch answered as partial
//! batch failures, or the hourly schedule) and `reportq worker`'s poll loops, both through
//! [`crate::consumer`]; each record in its own span, within the job's deadline.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use super::{RecordResult, Worker, WorkerError, parse_message};
use crate::consumer::Source;
use crate::domain::trace::Trace;
use crate::metrics;
use crate::queue::QueueError;

impl Worker {
    /// The Lambda handler: every record of the event, at once (the renderer bounds how many
    /// TeX processes run), answered as partial batch failures.
    pub async fn handle(&self, event: lambda_runtime::LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
        // Lambda stops the function at its deadline: finish (or give up on) each job before.
        let lambda_left = event.context.deadline().duration_since(std::time::SystemTime::now()).ok();
        let deadline = match lambda_left {
            Some(left) => self.cfg.job_deadline.min(left.saturating_sub(Duration::from_secs(2))),
            None => self.cfg.job_deadline,
        };
        let results = self.process(&event.payload.records, deadline).await;
        Ok(batch_response(&results))
    }

    /// The worker Lambda's one entry point: an SQS batch (the two queues' event sources), or
    /// the hourly schedule, which sweeps.
    pub async fn handle_any(&self, event: lambda_runtime::LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, lambda_runtime::Error> {
        let (payload, context) = event.into_parts();
        if payload.get("Records").is_some() {
            let sqs: SqsEvent = serde_json::from_value(payload)?;
            let resp = self.handle(lambda_runtime::LambdaEvent::new(sqs, context)).await?;
            return Ok(serde_json::to_value(resp)?);
        }
        Ok(serde_json::to_value(self.sweep().await?)?)
    }

    /// Handles messages concurrently, each within `deadline`.
    pub async fn process(&self, records: &[SqsMessage], deadline: Duration) -> Vec<RecordResult> {
        let sem = tokio::sync::Semaphore::new(self.cfg.concurrency);
        let work = records.iter().map(|m| async {
            if let Some(f) = m.body.as_deref().and_then(crate::fanout::FanoutMessage::parse) {
                let result = self.fan_out(f.fanout, deadline).await;
                return RecordResult { message_id: m.message_id.clone().unwrap_or_default(), receipt_handle: m.receipt_handle.clone(), result };
            }
            if let Some(a) = m.body.as_deref().and_then(crate::archive::ArchiveMessage::parse) {
                let result = self.build_archive(a, deadline, self.last_delivery(m)).await;
                return RecordResult { message_id: m.message_id.clone().unwrap_or_default(), receipt_handle: m.receipt_handle.clone(), result };
            }
            let _permit = sem.acquire().await.expect("never closed");
            // One span per delivery: every event of this job's attempt carries its ids.
            let parsed = parse_message(m).ok();
            let trace = m.attributes.get("AWSTraceHeader").and_then(|h| Trace::from_xray(h)).map(|t| t.trace_id_hex());
            let span = tracing::info_span!(
                "job",
                message_id = m.message_id.as_deref().unwrap_or("?"),
                job_id = parsed.map(|j| j.job_id.to_string()).unwrap_or_default(),
                lane = parsed.map(|j| j.lane.as_str()).unwrap_or("?"),
                receive_count = m.attributes.get("ApproximateReceiveCount").map(String::as_str).unwrap_or("1"),
                // The trace the API started (SQS's AWSTraceHeader; else the job record's).
                trace_id = trace.as_deref(),
                // Known once the job is read and claimed.
                batch_id = tracing::field::Empty,
                template = tracing::field::Empty,
                attempt = tracing::field::Empty,
            );
            let work = tokio::time::timeout(deadline, self.process_one(m, deadline, self.last_delivery(m)));
            let result = match tracing::Instrument::instrument(work, span.clone()).await {
                Ok(r) => r,
                Err(_) => Err(WorkerError::Deadline(deadline)),
            };
            let result = match result {
                Err(e) if self.last_delivery(m) => tracing::Instrument::instrument(self.give_up(m, e), span.clone()).await,
                r => r,
            };
            let message_id = m.message_id.as_deref().unwrap_or("?");
            span.in_scope(|| match &result {
                Ok(o) => tracing::info!(message_id, job_id = %o.job_id(), outcome = o.kind(), "message handled"),
                Err(e) => {
                    metrics::count("Retries", &[("Code", e.code())], 1.0);
                    tracing::warn!(message_id, error = %e, code = e.code(), "message will be retried")
                }
            });
            RecordResult { message_id: m.message_id.clone().unwrap_or_default(), receipt_handle: m.receipt_handle.clone(), result }
        });
        futures::future::join_all(work).await
    }

    /// A manifest's fan-out, within the record's deadline (and at most two minutes, so that
    /// it shares the worker with renders): paused runs resume from their own message.
    async fn fan_out(&self, batch: uuid::Uuid, deadline: Duration) -> Result<super::Outcome, WorkerError> {
        use crate::fanout::FanoutOutcome;
        let Some(f) = &self.fanout else {
            return Err(WorkerError::BadMessage("a fan-out message, and this worker has no bulk queue to fan out to".into()));
        };
        let budget = deadline.saturating_sub(Duration::from_secs(10)).min(Duration::from_secs(120));
        let span = tracing::info_span!("fanout", batch_id = %batch);
        let out = tracing::Instrument::instrument(f.run(batch, budget), span).await;
        let state = match out.map_err(|e| WorkerError::Batch { what: "fanning the manifest out", message: e.to_string() })? {
            FanoutOutcome::Done(_) => "FanoutDone",
            FanoutOutcome::Paused(..) => "FanoutPaused",
            FanoutOutcome::Busy => "FanoutBusy",
        };
        tracing::info!(batch_id = %batch, outcome = state, "message handled");
        Ok(super::Outcome::Batch { batch_id: batch, state })
    }

    /// A batch's archive ([`crate::archive`]), within the record's deadline: a build that
    /// needs longer saves where it is and goes on from its own message on the bulk queue. On
    /// its last delivery a failure is recorded for the client instead of retried.
    async fn build_archive(&self, msg: crate::archive::ArchiveMessage, deadline: Duration, last: bool) -> Result<super::Outcome, WorkerError> {
        let span = tracing::info_span!("archive", batch_id = %msg.archive);
        let budget = deadline.saturating_sub(Duration::from_secs(15));
        let work = tokio::time::timeout(deadline, crate::archive::build(self.store.as_ref(), msg, Some(budget)));
        let result = match tracing::Instrument::instrument(work, span).await {
            Ok(Ok(crate::archive::BuildOutcome::Continue)) => match &self.fanout {
                Some(f) => f
                    .queue
                    .send_raw(&msg.body(), Duration::ZERO)
                    .await
                    .map(|_| "ArchiveContinues")
                    .map_err(|e| WorkerError::Batch { what: "continuing the archive", message: e.to_string() }),
                None => Err(WorkerError::BadMessage("an archive too large for one invocation, and no bulk queue to go on from".into())),
            },
            Ok(Ok(out)) => Ok(out.kind()),
            Ok(Err(crate::archive::ArchiveError::NoSuchBatch(id))) => {
                crate::archive::give_up(self.store.as_ref(), msg, &format!("no batch {id}")).await?;
                Ok("ArchiveFailed")
            }
            Ok(Err(e)) => Err(WorkerError::Batch { what: "building the archive", message: e.to_string() }),
            Err(_) => Err(WorkerError::Deadline(deadline)),
        };
        let state = match result {
            Ok(state) => state,
            Err(e) if last => {
                crate::archive::give_up(self.store.as_ref(), msg, &e.to_string()).await?;
                tracing::warn!(batch_id = %msg.archive, error = %e, "archive failed for good");
                "ArchiveFailed"
            }
            Err(e) => return Err(e),
        };
        tracing::info!(batch_id = %msg.archive, outcome = state, "message handled");
        Ok(super::Outcome::Batch { batch_id: msg.archive, state })
    }

    /// One long poll of the queue, handled like a Lambda invocation ([`crate::consumer`]).
    pub async fn poll_once(&self, queue: &dyn Source, wait: Duration) -> Result<Vec<RecordResult>, QueueError> {
        crate::consumer::poll_once(self, queue, wait).await
    }

    /// `reportq worker`: polls until `stop` resolves. With an interactive queue, both queues
    /// are polled at once, each by its own loop: an interactive message is taken as soon as it
    /// arrives, not after the bulk messages in hand.
    pub async fn run(&self, bulk: &dyn Source, interactive: Option<&dyn Source>, stop: impl std::future::Future<Output = ()>) {
        use futures::FutureExt;
        let stop = stop.shared();
        let wait = self.cfg.poll_wait;
        let interactive = async {
            if let Some(q) = interactive {
                crate::consumer::run(self, q, wait, stop.clone()).await;
            }
        };
        futures::join!(crate::consumer::run(self, bulk, wait, stop.clone()), interactive);
    }
}

#[async_trait::async_trait]
impl crate::consumer::Handler for Worker {
    type Result = RecordResult;

    async fn handle_batch(&self, records: &[SqsMessage]) -> Vec<RecordResult> {
        self.process(records, self.cfg.job_deadline).await
    }
}

impl crate::consumer::Handled for RecordResult {
    fn handled(&self) -> bool {
        self.result.is_ok()
    }
}

/// Partial batch failures: the records to deliver again.
pub fn batch_response(results: &[RecordResult]) -> SqsBatchResponse {
    let mut resp = SqsBatchResponse::default();
    for r in results.iter().filter(|r| r.result.is_err()) {
        resp.add_failure(r.message_id.clone());
    }
    resp
}
