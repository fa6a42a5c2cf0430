//! Submission: a validated request becomes a stored job and a queued message. The rules live
//! here once, over the [`JobStore`] and [`JobQueue`] interfaces, for every route that submits:
//!
//! - the record is written first, then the message; a `202` means both happened;
//! - with an Idempotency-Key, a retry of the same request returns what the first try made (and
//!   re-sends the message of a job still `queued`, in case the first try died before sending
//!   it: a duplicate message is harmless; a batch re-sends only if its first try never
//!   finished sending, so replaying a key cannot multiply a batch's messages); the key reused
//!   for another request is refused;
//! - if the send fails and no key lets the caller retry into the same job, the job is marked
//!   `failed` (`enqueue_failed`) rather than left `queued` for ever.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::access::Caller;
use crate::domain::job::{Batch, Callback, FailureCode, Job, JobError, Status};
use crate::domain::now_epoch;
use crate::domain::trace::Trace;
use crate::metrics;
use crate::queue::{JobMessage, JobQueue, Lane, QueueError};
use crate::request::ReportRequest;
use crate::store::{IdempotencyKeys, IdempotencyRecord, IdempotencyScope, JobStore, Sent, SentMarkers, StoreError};

/// Why a submission did not go through.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("this Idempotency-Key was used for a different request; use a new key for a new request")]
    KeyReused,
}

/// A request ready to submit: the body to store (normalised), its parsed form, and the trace
/// of the HTTP request that brought it.
pub struct Item {
    pub body: Value,
    pub request: ReportRequest,
    pub trace: Option<Trace>,
    /// Where to POST the job's final event.
    pub callback: Option<Callback>,
}

/// Submits jobs and batches.
#[derive(Clone, Debug)]
pub struct Submitter {
    pub store: Arc<dyn JobStore>,
    /// What each Idempotency-Key created.
    pub idempotency: IdempotencyKeys,
    /// Which keyed submits' messages were sent.
    sent: SentMarkers,
    /// The bulk lane (batches).
    pub queue: Arc<dyn JobQueue>,
    /// The interactive lane (one report someone waits for); the bulk queue when not configured.
    pub interactive: Arc<dyn JobQueue>,
}

/// A stable fingerprint of a request body: what an Idempotency-Key is bound to.
pub fn fingerprint(v: &Value) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(v).expect("serialises")))
}

/// What a batch is submitted with besides its items.
pub struct NewBatch<'a> {
    /// What the Idempotency-Key is bound to ([`fingerprint`] of the body).
    pub fingerprint: String,
    pub key: Option<&'a str>,
    pub caller: &'a Caller,
    /// Where to POST `batch.completed`.
    pub callback: Option<Callback>,
}

impl Submitter {
    /// One queue for both lanes.
    pub fn new(store: Arc<dyn JobStore>, queue: Arc<dyn JobQueue>) -> Self {
        Self { idempotency: IdempotencyKeys::new(store.clone()), sent: SentMarkers::new(store.clone()), store, interactive: queue.clone(), queue }
    }

    /// Interactive jobs go to their own queue.
    pub fn with_interactive(mut self, interactive: Arc<dyn JobQueue>) -> Self {
        self.interactive = interactive;
        self
    }

    /// Records that a keyed submit's messages went out. Lost, this only makes a later replay
    /// send what is still queued once more (harmless: a job is claimed once).
    async fn mark_sent(&self, what: Sent) {
        if let Err(e) = self.sent.mark(what).await {
            tracing::warn!(sent = ?what, error = %e, "not marked as sent");
        }
    }

    fn lane(&self, lane: Lane) -> &dyn JobQueue {
        match lane {
            Lane::Interactive => self.interactive.as_ref(),
            Lane::Bulk => self.queue.as_ref(),
        }
    }

    /// Claims `key` for `new_id`: `None` on first use, the id the key made on a retry.
    async fn claim(
        &self,
        scope: IdempotencyScope,
        owner: Option<&str>,
        key: &str,
        fingerprint: String,
        new_id: Uuid,
    ) -> Result<Option<Uuid>, SubmitError> {
        let rec = IdempotencyRecord { id: new_id, fingerprint };
        match self.idempotency.claim(scope, owner, key, &rec).await? {
            None => Ok(None),
            Some(old) if old.fingerprint == rec.fingerprint => Ok(Some(old.id)),
            Some(_) => Err(SubmitError::KeyReused),
        }
    }

    /// [`Submitter::submit_as`] with authentication off.
    pub async fn submit(&self, item: Item, fingerprint_of: &Value, key: Option<&str>, lane: Lane) -> Result<(Job, bool), SubmitError> {
        self.submit_as(item, fingerprint_of, key, lane, &Caller::open()).await
    }

    /// Stores one job and queues it. `fingerprint_of` is what the key is bound to (the body
    /// as the caller sent it); the key and the job are `caller`'s. Returns the job and whether
    /// this call created it.
    pub async fn submit_as(
        &self,
        item: Item,
        fingerprint_of: &Value,
        key: Option<&str>,
        lane: Lane,
        caller: &Caller,
    ) -> Result<(Job, bool), SubmitError> {
        let trace = item.trace.map(Trace::child);
        let message = |job_id| JobMessage::new(job_id, lane).traced(trace);
        let mut id = Uuid::new_v4();
        if let Some(key) = key
            && let Some(old) = self.claim(IdempotencyScope::Job, caller.owner.as_deref(), key, fingerprint(fingerprint_of), id).await?
        {
            id = old;
            if let Some((job, _)) = self.store.job(id).await? {
                // Still queued and never sent (the first try died between storing and sending):
                // send it now, once. A job whose message went out waits for it.
                if job.status == Status::Queued && !self.sent.is_sent(Sent::Job(id)).await? {
                    self.lane(lane).send(&message(id)).await?;
                    self.mark_sent(Sent::Job(id)).await;
                }
                return Ok((job, false));
            }
            // The first try claimed the key and died before storing the job: finish it.
        }
        let mut job = Job::new(id, None, item.request.template_name(), item.body, now_epoch());
        job.trace_id = trace.map(|t| t.trace_id_hex());
        job.owner = caller.owner.clone();
        job.callback = item.callback;
        if !self.store.create_job(&job).await? {
            // A concurrent replay of the same key stored it first: that call sends and counts it.
            let vanished = || StoreError { op: "GetObject", key: format!("job {id}"), message: "the job record vanished".into() };
            return Ok((self.store.job(id).await?.ok_or_else(vanished)?.0, false));
        }
        if let Err(e) = self.lane(lane).send(&message(id)).await {
            if key.is_none() {
                // Nobody can retry this job into the queue: say so rather than leave it queued.
                tracing::warn!(job_id = %id, error = %e, "enqueue failed; marking the job failed");
                if let Some((cur, version)) = self.store.job(id).await? {
                    let failed =
                        cur.failed(now_epoch(), JobError::pipeline(FailureCode::EnqueueFailed, "the job could not be queued; submit it again"));
                    let _ = self.store.replace_job(&failed, &version).await;
                }
            }
            return Err(e.into());
        }
        if key.is_some() {
            self.mark_sent(Sent::Job(id)).await;
        }
        tracing::info!(job_id = %id, template = job.template, lane = lane.as_str(), "job queued");
        metrics::count("JobsSubmitted", &[("Template", job.template.as_str())], 1.0);
        Ok((job, true))
    }

    /// Stores a batch and its jobs, then queues them all. Items are validated already: nothing
    /// is stored unless every one was.
    pub async fn submit_batch(&self, items: Vec<Item>, fingerprint_of: &Value, key: Option<&str>) -> Result<Batch, SubmitError> {
        let batch = NewBatch { fingerprint: fingerprint(fingerprint_of), key, caller: &Caller::open(), callback: None };
        Ok(self.submit_batch_as(items, batch).await?.0)
    }

    /// [`Submitter::submit_batch`] with the body's [`fingerprint`] taken beforehand (so that
    /// the caller can move the requests out of the body instead of copying them), for a caller,
    /// with the batch's callback. Returns the batch and whether this call created it.
    pub async fn submit_batch_as(&self, items: Vec<Item>, new: NewBatch<'_>) -> Result<(Batch, bool), SubmitError> {
        let NewBatch { fingerprint, key, caller, callback } = new;
        let mut batch_id = Uuid::new_v4();
        let mut replay = false;
        if let Some(key) = key
            && let Some(old) = self.claim(IdempotencyScope::Batch, caller.owner.as_deref(), key, fingerprint, batch_id).await?
        {
            batch_id = old;
            replay = true;
        }
        // Whether this call made the batch record: a replay whose first try died before the
        // record existed makes it now, and is a new batch (counted, charged), not a replay.
        let (batch, made) = match self.store.batch(batch_id).await? {
            Some(b) if replay => (b, false),
            _ => {
                let b = Batch {
                    id: batch_id,
                    created_at_epoch: now_epoch(),
                    job_ids: (0..items.len() as u32).map(|i| crate::domain::job::item_id(batch_id, i)).collect(),
                    manifest: None,
                    owner: caller.owner.clone(),
                    callback: callback.clone(),
                };
                // The batch record first: it holds the job ids, so a retry finishes the same jobs.
                if self.store.create_batch(&b).await? {
                    (b, true)
                } else {
                    // A concurrent replay made it first: finish that record's jobs, not new ones.
                    let vanished = || StoreError { op: "GetObject", key: format!("batch {batch_id}"), message: "the batch record vanished".into() };
                    (self.store.batch(batch_id).await?.ok_or_else(vanished)?, false)
                }
            }
        };
        let now = batch.created_at_epoch;
        let trace = items.first().and_then(|i| i.trace).map(Trace::child);
        let new_jobs: Vec<Job> = batch
            .job_ids
            .iter()
            .zip(items)
            .map(|(id, item)| Job {
                trace_id: trace.map(|t| t.trace_id_hex()),
                owner: batch.owner.clone(),
                callback: item.callback,
                notify_batch: batch.callback.is_some(),
                ..Job::new(*id, Some(batch_id), item.request.template_name(), item.body, now)
            })
            .collect();
        let templates: Vec<String> = new_jobs.iter().map(|j| j.template.clone()).collect();
        if new_jobs.iter().all(|j| crate::domain::job::item_of(j.id).is_some()) {
            // A chunk record per hundred jobs ([`crate::store::items`]).
            self.store.create_items(&new_jobs).await?;
        } else {
            // A batch recorded before its jobs had item ids (replayed by its key): a record each.
            let created: Vec<Result<bool, StoreError>> = futures::stream::iter(new_jobs)
                .map(|job| {
                    let store = self.store.clone();
                    async move { store.create_job(&job).await }
                })
                .buffered(32)
                .collect()
                .await;
            for r in created {
                r?;
            }
        }
        let to_send: Vec<JobMessage> = if replay && self.sent.is_sent(Sent::Batch(batch_id)).await? {
            Vec::new()
        } else if replay {
            let moved = self.store.batch_statuses(batch_id).await?;
            batch.job_ids.iter().filter(|id| !moved.contains_key(id)).map(|&job_id| JobMessage::bulk(job_id).traced(trace)).collect()
        } else {
            batch.job_ids.iter().map(|&job_id| JobMessage::bulk(job_id).traced(trace)).collect()
        };
        self.queue.send_all(&to_send).await?;
        if !to_send.is_empty() {
            self.mark_sent(Sent::Batch(batch_id)).await;
        }
        if made {
            for t in &templates {
                metrics::count("JobsSubmitted", &[("Template", t.as_str())], 1.0);
            }
        }
        tracing::info!(batch_id = %batch_id, jobs = batch.job_ids.len(), replay, made, "batch queued");
        Ok((batch, made))
    }

    /// Makes a manifest batch (no jobs yet: the fan-out makes them from the uploaded file).
    /// Returns the batch and whether this call created it (a replayed key returns the first).
    pub async fn create_manifest(&self, lines: u32, new: NewBatch<'_>) -> Result<(Batch, bool), SubmitError> {
        let NewBatch { fingerprint, key, caller, callback } = new;
        let mut batch_id = Uuid::new_v4();
        if let Some(key) = key
            && let Some(old) = self.claim(IdempotencyScope::Batch, caller.owner.as_deref(), key, fingerprint, batch_id).await?
        {
            batch_id = old;
            if let Some(b) = self.store.batch(batch_id).await? {
                return Ok((b, false));
            }
        }
        let b = Batch {
            id: batch_id,
            created_at_epoch: now_epoch(),
            job_ids: Vec::new(),
            manifest: Some(crate::domain::manifest::Manifest { lines }),
            owner: caller.owner.clone(),
            callback,
        };
        if self.store.create_batch(&b).await? {
            tracing::info!(batch_id = %batch_id, lines, "manifest batch created");
            return Ok((b, true));
        }
        let vanished = || StoreError { op: "GetObject", key: format!("batch {batch_id}"), message: "the batch record vanished".into() };
        Ok((self.store.batch(batch_id).await?.ok_or_else(vanished)?, false))
    }
}
