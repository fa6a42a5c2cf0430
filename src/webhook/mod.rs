//! Webhook delivery: when a job (or a whole batch) ends, its callback URL gets one signed
//! event, at least once, retried with back-off for up to a day, without ever holding up or
//! failing a render.
//!
//! - [`Notifier`] (in the worker, the sweep): the job's final record is written first, then a
//!   delivery record (`webhooks/{webhook_id}.json`, create-only) and a message on the delivery
//!   queue. A crash in between is repaired by the job message's next delivery, which finds
//!   the job finished and the delivery not started, and sends again.
//! - [`Deliverer`] (the webhook function on Lambda, a loop of its own in `reportq worker`):
//!   takes a delivery message, checks the URL's addresses again, POSTs the event with its
//!   Standard Webhooks headers, records the attempt, and on failure queues the next attempt
//!   with a delay (SQS delays at most 15 minutes; longer waits are chains of delays).
//!
//! Every attempt of one event carries the same `webhook-id`; the body (with a fresh download
//! URL) and the timestamp are new each time, and so is the signature.

pub mod secrets;
pub mod ssrf;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use crate::domain::job::{Job, Status, now_ms, rfc3339};
use crate::domain::webhook::{Attempt, Delivery, DeliveryMessage, DeliveryState, EventType, Secret, Subject, signature_header};
use crate::queue::QueueError;
use crate::store::{ApiKeys, Deliveries, JobStore, ReportLinks, StoreError};

pub use crate::config::WebhookSettings;

pub use crate::queue::DeliveryQueue;

/// Why an event could not be queued or sent this time (worth another try).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Queues final events. Safe to call any number of times for one job: the delivery record is
/// created once, and a message is sent again only while no attempt has been made.
#[derive(Debug, Clone)]
pub struct Notifier {
    store: Arc<dyn JobStore>,
    deliveries: Deliveries,
    queue: Arc<dyn DeliveryQueue>,
}

impl Notifier {
    pub fn new(store: Arc<dyn JobStore>, queue: Arc<dyn DeliveryQueue>) -> Notifier {
        Notifier { deliveries: Deliveries::new(store.clone()), store, queue }
    }

    /// A job reached `succeeded` or `failed`: its own event, and its batch's if it was the last.
    pub async fn job_finished(&self, job: &Job) -> Result<(), NotifyError> {
        if !job.status.is_final() {
            return Ok(());
        }
        if let Some(cb) = &job.callback {
            let event = if job.status == Status::Succeeded { EventType::ReportSucceeded } else { EventType::ReportFailed };
            self.enqueue(Subject::Report(job.id), event, &cb.url).await?;
        }
        if let (true, Some(batch_id)) = (job.notify_batch, job.batch_id) {
            self.batch_progress(batch_id).await?;
        }
        Ok(())
    }

    /// Sends `batch.completed` if every job of the batch is final. Each job's marker is written
    /// before this listing, so of two jobs finishing last at once, at least the later sees both.
    pub async fn batch_progress(&self, batch_id: Uuid) -> Result<(), NotifyError> {
        let Some(batch) = self.store.batch(batch_id).await? else { return Ok(()) };
        let Some(cb) = &batch.callback else { return Ok(()) };
        if crate::batch::progress(self.store.as_ref(), &batch).await?.done {
            self.enqueue(Subject::Batch(batch_id), EventType::BatchCompleted, &cb.url).await?;
        }
        Ok(())
    }

    async fn enqueue(&self, subject: Subject, event: EventType, url: &str) -> Result<(), NotifyError> {
        let record = Delivery::new(subject, event, url);
        let send = match self.deliveries.create(&record).await? {
            None => true,
            // Made before: send again only if nothing has happened since (the first sender may
            // have died between the record and the message).
            Some(d) => d.state == DeliveryState::Pending && d.attempts.is_empty(),
        };
        if send {
            let msg = DeliveryMessage { subject, attempt: 1, not_before_ms: 0 };
            self.queue.send_delivery(&msg, Duration::ZERO).await?;
            tracing::info!(webhook_id = record.webhook_id, event = event.as_str(), "webhook queued");
        }
        Ok(())
    }
}

/// What one delivery message came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered { status: u16 },
    /// This attempt failed; the next one is queued.
    Retrying { attempt: u32, status: Option<u16> },
    /// The last attempt failed, or the URL may not be called: no more tries.
    GaveUp { reason: String },
    /// Not due yet: sent back to the queue with the rest of its delay.
    Deferred,
    /// Already delivered or given up, or this attempt was made (a duplicate message).
    Duplicate,
}

/// Sends events.
#[derive(Debug, Clone)]
pub struct Deliverer {
    store: Arc<dyn JobStore>,
    /// One pooled client for every delivery; its resolver checks each address it connects to.
    client: reqwest::Client,
    deliveries: Deliveries,
    links: ReportLinks,
    /// API keys' own signing secrets.
    keys: ApiKeys,
    queue: Arc<dyn DeliveryQueue>,
    cfg: WebhookSettings,
    /// What events without a key's own secrets are signed with.
    deployment: secrets::DeploymentSecrets,
}

impl Deliverer {
    pub fn new(store: Arc<dyn JobStore>, queue: Arc<dyn DeliveryQueue>, cfg: WebhookSettings, deployment: secrets::DeploymentSecrets) -> Deliverer {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the host itself, past the address check.
            .no_proxy()
            .timeout(cfg.timeout)
            .dns_resolver(ssrf::CheckedResolver { allow: cfg.allow.clone(), timeout: cfg.timeout })
            .user_agent(concat!("reportq-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            // Fails only if the TLS backend cannot start, as `reqwest::Client::new()` would.
            .expect("the webhook HTTP client builds");
        let (deliveries, links, keys) =
            (Deliveries::new(store.clone()), ReportLinks::new(store.clone(), cfg.url_expiry), ApiKeys::new(store.clone()));
        Deliverer { deliveries, links, keys, store, client, queue, cfg, deployment }
    }

    /// Handles one delivery message. `Err` only when the store or queue failed: the message
    /// then comes back, and the records make the repeat harmless.
    pub async fn handle(&self, msg: &DeliveryMessage) -> Result<DeliveryOutcome, NotifyError> {
        let now = now_ms();
        if msg.not_before_ms > now {
            let left = Duration::from_millis((msg.not_before_ms - now) as u64);
            self.queue.send_delivery(msg, left).await?;
            return Ok(DeliveryOutcome::Deferred);
        }
        let id = msg.subject.webhook_id();
        let Some(record) = self.deliveries.get(&id).await? else {
            tracing::warn!(webhook_id = id, "delivery message without a record; dropped");
            return Ok(DeliveryOutcome::Duplicate);
        };
        if record.state != DeliveryState::Pending {
            return Ok(DeliveryOutcome::Duplicate);
        }
        if let Some(last) = record.attempts.iter().max_by_key(|a| a.attempt)
            && last.attempt >= msg.attempt
        {
            // This attempt was made; if its message for the next one was lost, send it now.
            if last.attempt == msg.attempt
                && let Some(delay) = self.delay_after(msg.attempt)
            {
                self.queue_next(msg, last.at_ms, delay).await?;
            }
            return Ok(DeliveryOutcome::Duplicate);
        }
        let started = Instant::now();
        let at_ms = now_ms();
        let result = match ssrf::resolve(&record.url, &self.cfg.allow, self.cfg.timeout).await {
            // A name that does not resolve now may resolve later: retried, unlike an address
            // that may not be called.
            Err(refused) if refused.transient => Err(Failure::Transport(refused.reason)),
            Err(refused) => Err(Failure::Refused(refused.reason)),
            Ok(target) => match self.body(&record).await? {
                None => Err(Failure::Refused("the job or batch no longer exists".into())),
                Some((body, owner)) => {
                    let secrets = self.secrets_for(owner.as_deref()).await?;
                    self.post(&target, &id, &body, &secrets).await
                }
            },
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        let (attempt, state, outcome) = match result {
            Ok(status) => (
                Attempt { attempt: msg.attempt, at_ms, status: Some(status), latency_ms, error: None },
                DeliveryState::Delivered,
                DeliveryOutcome::Delivered { status },
            ),
            Err(f) => {
                let (status, error, permanent) = match f {
                    Failure::Status(s) => (Some(s), format!("answered {s}"), false),
                    Failure::Transport(e) => (None, e, false),
                    Failure::Refused(e) => (None, format!("refused: {e}"), true),
                };
                let attempt = Attempt { attempt: msg.attempt, at_ms, status, latency_ms, error: Some(error.clone()) };
                match self.delay_after(msg.attempt) {
                    Some(_) if !permanent => (attempt, DeliveryState::Pending, DeliveryOutcome::Retrying { attempt: msg.attempt, status }),
                    _ => (attempt, DeliveryState::Failed, DeliveryOutcome::GaveUp { reason: error }),
                }
            }
        };
        // Recorded over the current record: a duplicate message's attempt that ended meanwhile
        // (delivered, or given up) stands, and this one is only added to the history.
        let recorded = self
            .deliveries
            .update(&id, |cur| {
                let cur = cur.unwrap_or_else(|| record.clone());
                let next = if cur.state == DeliveryState::Pending { state } else { cur.state };
                cur.with_attempt(attempt.clone(), next)
            })
            .await?;
        if let (DeliveryState::Pending, DeliveryState::Pending, Some(delay)) = (state, recorded.state, self.delay_after(msg.attempt)) {
            self.queue_next(msg, at_ms, delay).await?;
        }
        let status = attempt.status;
        match &outcome {
            DeliveryOutcome::Delivered { .. } => tracing::info!(webhook_id = id, attempt = msg.attempt, status, latency_ms, "webhook delivered"),
            _ => {
                tracing::warn!(webhook_id = id, attempt = msg.attempt, status, latency_ms, error = attempt.error, outcome = ?outcome, "webhook attempt failed")
            }
        }
        let result = match &outcome {
            DeliveryOutcome::Delivered { .. } => "delivered",
            DeliveryOutcome::GaveUp { .. } => "gave_up",
            _ => "retrying",
        };
        crate::metrics::count("WebhookAttempts", &[("Result", result)], 1.0);
        Ok(outcome)
    }

    fn delay_after(&self, attempt: u32) -> Option<Duration> {
        crate::domain::webhook::next_delay(&self.cfg.backoff, attempt)
    }

    async fn queue_next(&self, msg: &DeliveryMessage, after_ms: i64, delay: Duration) -> Result<(), QueueError> {
        let next = DeliveryMessage { subject: msg.subject, attempt: msg.attempt + 1, not_before_ms: after_ms + delay.as_millis() as i64 };
        self.queue.send_delivery(&next, delay).await
    }

    /// Who signs an owner's events: an API key's own secrets (newest first; a rotation signs
    /// with both), so that one caller's callbacks cannot be made to carry signatures another
    /// caller's receiver trusts. Keys made before secrets were per key, JWT subjects (one
    /// issuer per deployment) and open deployments: the deployment's ([`secrets`]).
    async fn secrets_for(&self, owner: Option<&str>) -> Result<Vec<Secret>, StoreError> {
        if let Some(id) = owner.and_then(|o| o.strip_prefix("key:"))
            && let Some(key) = self.keys.get(id).await?
        {
            let own: Vec<Secret> = key.webhook_secrets.iter().filter_map(|s| Secret::parse(s).ok()).collect();
            if !own.is_empty() {
                return Ok(own);
            }
        }
        Ok(self.deployment.current().await)
    }

    /// The event, as of now (a fresh download URL each attempt), and whose it is.
    async fn body(&self, record: &Delivery) -> Result<Option<(Vec<u8>, Option<String>)>, StoreError> {
        let owner;
        let data = match record.subject {
            Subject::Report(id) => {
                let Some((job, _)) = self.store.job(id).await? else { return Ok(None) };
                owner = job.owner.clone();
                let mut data = json!({
                    "job_id": job.id,
                    "status": job.status,
                    "template": job.template,
                    "created_at": rfc3339(job.created_at_epoch),
                });
                if let Some(b) = job.batch_id {
                    data["batch_id"] = json!(b);
                }
                if let Some(e) = &job.error {
                    data["error"] = json!({"code": e.code, "message": e.message});
                }
                if let Some(link) = self.links.of(&job).await? {
                    data["url"] = json!(link.url);
                    data["expires_at"] = json!(link.expires_at);
                    data["filename"] = json!(link.filename);
                    data["sha256"] = json!(link.sha256);
                    data["size"] = json!(link.size);
                }
                data
            }
            Subject::Batch(id) => {
                let Some(batch) = self.store.batch(id).await? else { return Ok(None) };
                owner = batch.owner.clone();
                let p = crate::batch::progress(self.store.as_ref(), &batch).await?;
                json!({
                    "batch_id": id,
                    "total": p.total,
                    "succeeded": p.counts.succeeded,
                    "failed": p.counts.failed,
                    "links": {"self": format!("/v1/batches/{id}")},
                })
            }
        };
        let mut event = json!({"type": record.event.as_str(), "timestamp": crate::wire::rfc3339_ms(now_ms()), "data": data});
        // The event names whose it is (`key:{id}`, `jwt:{issuer}|{sub}`): a receiver serving
        // several callers checks the owner as well as the signature.
        if let Some(o) = &owner {
            event["owner"] = json!(o);
        }
        Ok(Some((serde_json::to_vec(&event).expect("serialises"), owner)))
    }

    /// One POST to the checked address (never a second DNS lookup), no redirects followed.
    async fn post(&self, target: &ssrf::Target, id: &str, body: &[u8], secrets: &[Secret]) -> Result<u16, Failure> {
        let timestamp = crate::domain::now_epoch();
        let resp = self
            .client
            .post(target.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature_header(secrets, id, timestamp, body))
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| Failure::Transport(if e.is_timeout() { format!("no answer within {:?}", self.cfg.timeout) } else { with_causes(&e) }))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() { Ok(status) } else { Err(Failure::Status(status)) }
    }

    /// Long-polls the delivery queue until `stop` resolves (`reportq worker`), `concurrency`
    /// deliveries at once: a receiver that hangs holds one of these, never a render slot.
    pub async fn run(&self, queue: &dyn crate::consumer::Source, concurrency: usize, wait: Duration, stop: impl std::future::Future<Output = ()>) {
        crate::consumer::run(&DeliveryHandler { deliverer: self, concurrency }, queue, wait, stop).await
    }

    /// Handles SQS records, each handled or not (in the records' order); an unhandled one comes
    /// back.
    pub async fn process(&self, msgs: &[aws_lambda_events::event::sqs::SqsMessage], concurrency: usize) -> Vec<bool> {
        let sem = tokio::sync::Semaphore::new(concurrency.max(1));
        let work = msgs.iter().map(|m| async {
            let _permit = sem.acquire().await.expect("never closed");
            let parsed: Result<DeliveryMessage, _> = serde_json::from_str(m.body.as_deref().unwrap_or_default());
            match parsed {
                Ok(msg) => match self.handle(&msg).await {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, "delivery will be retried");
                        false
                    }
                },
                Err(e) => {
                    // Left on the queue: after its receives it lands in the DLQ for a person.
                    tracing::error!(error = %e, "not a delivery message");
                    false
                }
            }
        });
        // In the records' order (the Lambda answer names failures by message), all at once.
        futures::future::join_all(work).await
    }

    /// The webhook Lambda's handler: an SQS batch from the delivery queue, answered as partial
    /// batch failures.
    pub async fn handle_event(
        &self,
        event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>,
    ) -> Result<aws_lambda_events::event::sqs::SqsBatchResponse, lambda_runtime::Error> {
        let records = &event.payload.records;
        let results = self.process(records, 10).await;
        Ok(crate::consumer::batch_response(records, &results))
    }
}

/// The deliverer as a [`crate::consumer::Handler`], `concurrency` deliveries at once.
struct DeliveryHandler<'a> {
    deliverer: &'a Deliverer,
    concurrency: usize,
}

#[async_trait::async_trait]
impl crate::consumer::Handler for DeliveryHandler<'_> {
    type Result = bool;

    async fn handle_batch(&self, records: &[aws_lambda_events::event::sqs::SqsMessage]) -> Vec<bool> {
        self.deliverer.process(records, self.concurrency).await
    }
}

/// An error with its causes ("error sending request" alone does not say the resolver refused
/// the address, or that the connection was refused).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

enum Failure {
    Status(u16),
    Transport(String),
    Refused(String),
}
