//! Typed stores: each owns one key space and one record type over [`Objects`], so no code
//! outside `store/` builds a key or decodes a record. Each is a cheap handle (an `Arc`) made
//! where it is needed from the one store the wiring built.
//!
//! Every write here is conditional (create-only, or over the version read): two writers at
//! once cannot lose each other's change ([`records::update`]).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{IdempotencyRecord, IdempotencyScope, JobStore, Objects, Put, StoreError, keys, records};
use crate::domain::Date;
use crate::domain::access::ApiKey;
use crate::domain::job::{Job, Status, rfc3339};
use crate::domain::webhook::Delivery;

/// API keys' records (their hash, name, scopes, quota; never the key itself).
#[derive(Debug, Clone)]
pub struct ApiKeys(Arc<dyn Objects>);

impl ApiKeys {
    pub fn new(objects: Arc<dyn Objects>) -> ApiKeys {
        ApiKeys(objects)
    }

    pub async fn get(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        Ok(records::get::<ApiKey>(self.0.as_ref(), &keys::api_key(id)).await?.map(|(k, _)| k))
    }

    /// Stores a new key's record; `false` if a record with its id exists (left as it is).
    pub async fn create(&self, key: &ApiKey) -> Result<bool, StoreError> {
        Ok(matches!(records::put(self.0.as_ref(), &keys::api_key(&key.id), key, None).await?, Put::Written(_)))
    }

    /// Every key's record, oldest first.
    pub async fn list(&self) -> Result<Vec<ApiKey>, StoreError> {
        let mut out = Vec::new();
        for k in self.0.list_keys(keys::API_KEYS).await? {
            if let Some((rec, _)) = records::get::<ApiKey>(self.0.as_ref(), &k).await? {
                out.push(rec);
            }
        }
        out.sort_by(|a, b| (a.created_at_epoch, &a.id).cmp(&(b.created_at_epoch, &b.id)));
        Ok(out)
    }

    /// Applies `change` to the key's current record; `None` if there is no such key (keys are
    /// never deleted, so none is created here).
    pub async fn update(&self, id: &str, mut change: impl FnMut(ApiKey) -> ApiKey) -> Result<Option<ApiKey>, StoreError> {
        let r = records::update::<ApiKey, ()>(self.0.as_ref(), &keys::api_key(id), |cur| cur.map(&mut change).ok_or(())).await?;
        Ok(r.ok())
    }
}

/// Reports counted per API key and UTC day: what daily quotas are checked against.
#[derive(Debug, Clone)]
pub struct Usage(Arc<dyn Objects>);

/// A key's count of reports on one day, as stored.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Count {
    count: u64,
}

impl Usage {
    pub fn new(objects: Arc<dyn Objects>) -> Usage {
        Usage(objects)
    }

    /// Adds `n` to the key's count for `day` unless that would pass `limit`: the new count,
    /// or (`Err`) the count it stays at. Exact under any number of concurrent callers.
    pub async fn add_within(&self, key_id: &str, day: Date, n: u64, limit: u64) -> Result<Result<u64, u64>, StoreError> {
        let r = records::update::<Count, u64>(self.0.as_ref(), &keys::usage(key_id, &day.iso()), |cur| {
            let used = cur.map_or(0, |c| c.count);
            if used + n > limit { Err(used) } else { Ok(Count { count: used + n }) }
        })
        .await?;
        Ok(r.map(|c| c.count))
    }

    /// Takes `n` off the key's count for `day` (not below zero); the new count.
    pub async fn subtract(&self, key_id: &str, day: Date, n: u64) -> Result<u64, StoreError> {
        let r = records::update::<Count, std::convert::Infallible>(self.0.as_ref(), &keys::usage(key_id, &day.iso()), |cur| {
            Ok(Count { count: cur.map_or(0, |c| c.count).saturating_sub(n) })
        })
        .await?;
        Ok(r.unwrap_or_else(|never| match never {}).count)
    }

    pub async fn count(&self, key_id: &str, day: Date) -> Result<u64, StoreError> {
        Ok(records::get::<Count>(self.0.as_ref(), &keys::usage(key_id, &day.iso())).await?.map_or(0, |(c, _)| c.count))
    }
}

/// Webhook deliveries: one record per event, with every attempt made.
#[derive(Debug, Clone)]
pub struct Deliveries(Arc<dyn Objects>);

impl Deliveries {
    pub fn new(objects: Arc<dyn Objects>) -> Deliveries {
        Deliveries(objects)
    }

    /// Stores `record` if its event has none yet (`None`); otherwise the record there.
    pub async fn create(&self, record: &Delivery) -> Result<Option<Delivery>, StoreError> {
        let key = keys::delivery(&record.webhook_id);
        match records::put(self.0.as_ref(), &key, record, None).await? {
            Put::Written(_) => Ok(None),
            Put::Conflict => Ok(Some(records::get::<Delivery>(self.0.as_ref(), &key).await?.ok_or_else(|| vanished(&key))?.0)),
        }
    }

    pub async fn get(&self, webhook_id: &str) -> Result<Option<Delivery>, StoreError> {
        Ok(records::get::<Delivery>(self.0.as_ref(), &keys::delivery(webhook_id)).await?.map(|(d, _)| d))
    }

    /// Writes `change` of the current record (`None` if it vanished), over the version read.
    pub async fn update(&self, webhook_id: &str, mut change: impl FnMut(Option<Delivery>) -> Delivery) -> Result<Delivery, StoreError> {
        let r = records::update::<Delivery, std::convert::Infallible>(self.0.as_ref(), &keys::delivery(webhook_id), |cur| Ok(change(cur))).await?;
        Ok(r.unwrap_or_else(|never| match never {}))
    }
}

/// Idempotency-Keys: what each key created, in its own space per kind of thing and per
/// caller. Keys are stored hashed ([`keys::idempotency`]): a key is the caller's text.
#[derive(Debug, Clone)]
pub struct IdempotencyKeys(Arc<dyn Objects>);

impl IdempotencyKeys {
    pub fn new(objects: Arc<dyn Objects>) -> IdempotencyKeys {
        IdempotencyKeys(objects)
    }

    /// Records `record` under the key if the key is new (`None`); otherwise what the key
    /// recorded first.
    pub async fn claim(
        &self,
        scope: IdempotencyScope,
        owner: Option<&str>,
        key: &str,
        record: &IdempotencyRecord,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let obj = keys::idempotency(scope.as_str(), owner, key);
        match records::put(self.0.as_ref(), &obj, record, None).await? {
            Put::Written(_) => Ok(None),
            // Key records are never deleted: a conflict with nothing behind it is the store failing.
            Put::Conflict => Ok(Some(records::get::<IdempotencyRecord>(self.0.as_ref(), &obj).await?.ok_or_else(|| vanished(&obj))?.0)),
        }
    }

    /// What the key recorded, if it was used.
    pub async fn get(&self, scope: IdempotencyScope, owner: Option<&str>, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(records::get::<IdempotencyRecord>(self.0.as_ref(), &keys::idempotency(scope.as_str(), owner, key)).await?.map(|(r, _)| r))
    }
}

/// Markers that a keyed submit's messages were sent, so that replaying its Idempotency-Key
/// sends nothing again (a replay of a still-queued job once re-sent its message every time,
/// and 190 replays filled the interactive queue for everyone). Lost between the send and the
/// mark, a marker only makes the next replay send once more: harmless, the worker claims a job
/// once.
#[derive(Debug, Clone)]
pub struct SentMarkers(Arc<dyn Objects>);

/// What a marker is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Job(uuid::Uuid),
    Batch(uuid::Uuid),
}

impl SentMarkers {
    pub fn new(objects: Arc<dyn Objects>) -> SentMarkers {
        SentMarkers(objects)
    }

    fn key(what: Sent) -> String {
        match what {
            Sent::Job(id) => keys::job_sent(id),
            Sent::Batch(id) => keys::batch_sent(id),
        }
    }

    /// Marks `what` as sent (again is harmless).
    pub async fn mark(&self, what: Sent) -> Result<(), StoreError> {
        self.0.put_object_if(&Self::key(what), Vec::new(), None).await.map(|_| ())
    }

    pub async fn is_sent(&self, what: Sent) -> Result<bool, StoreError> {
        Ok(self.0.get_object(&Self::key(what)).await?.is_some())
    }
}

fn vanished(key: &str) -> StoreError {
    StoreError { op: "GetObject", key: key.to_string(), message: "the record was there a moment ago and is gone".into() }
}

/// A finished report as every answer shows it (a job's status, its webhook event): a fresh
/// presigned URL and when it stops working, with the file's name, size and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLink {
    pub url: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
}

/// Makes [`ReportLink`]s: presigned for `expiry` each time one is asked for, because a URL
/// dies with the credentials that signed it (a Lambda's last at most hours).
#[derive(Debug, Clone)]
pub struct ReportLinks {
    store: Arc<dyn JobStore>,
    expiry: Duration,
}

impl ReportLinks {
    pub fn new(store: Arc<dyn JobStore>, expiry: Duration) -> ReportLinks {
        ReportLinks { store, expiry }
    }

    /// The job's report link; `None` unless it succeeded with a report.
    pub async fn of(&self, job: &Job) -> Result<Option<ReportLink>, StoreError> {
        let (Status::Succeeded, Some(out)) = (job.status, &job.output) else { return Ok(None) };
        let filename = job.filename();
        let p = self.store.report_url(job.id, self.expiry, &filename).await?;
        let expires = p.expires_at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        Ok(Some(ReportLink { url: p.url, expires_at: rfc3339(expires), filename, size: out.size, sha256: out.sha256.clone() }))
    }

    /// Only the URL (a redirect's `Location`).
    pub async fn url(&self, job: &Job) -> Result<String, StoreError> {
        Ok(self.store.report_url(job.id, self.expiry, &job.filename()).await?.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn key(id: &str, at: i64) -> ApiKey {
        ApiKey {
            id: id.into(),
            name: id.into(),
            scopes: vec![],
            quota_per_day: None,
            hash: "h".into(),
            created_at_epoch: at,
            revoked_at_epoch: None,
            webhook_secrets: vec![],
        }
    }

    #[tokio::test]
    async fn api_keys_are_created_once_listed_oldest_first_and_updated_only_if_there() {
        let keys = ApiKeys::new(Arc::new(MemoryStore::new()));
        assert!(keys.create(&key("b", 2)).await.unwrap());
        assert!(keys.create(&key("a", 1)).await.unwrap());
        assert!(!keys.create(&key("a", 9)).await.unwrap(), "an id is never written over");
        let ids: Vec<_> = keys.list().await.unwrap().into_iter().map(|k| (k.id, k.created_at_epoch)).collect();
        assert_eq!(ids, [("a".to_string(), 1), ("b".to_string(), 2)]);
        let revoked = keys.update("a", |mut k| {
            k.revoked_at_epoch = Some(5);
            k
        });
        assert_eq!(revoked.await.unwrap().unwrap().revoked_at_epoch, Some(5));
        assert!(keys.update("nope", |k| k).await.unwrap().is_none());
        assert!(keys.get("nope").await.unwrap().is_none(), "updating a missing key creates nothing");
    }

    #[tokio::test]
    async fn usage_counts_up_to_the_limit_exactly_under_concurrency() {
        let usage = Usage::new(Arc::new(MemoryStore::new()));
        let day = Date::from_epoch(1_795_000_000);
        let tries = (0..40).map(|_| usage.add_within("k", day, 1, 25));
        let results = futures::future::join_all(tries).await;
        assert_eq!(results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count(), 25);
        assert_eq!(results.iter().filter(|r| matches!(r, Ok(Err(25)))).count(), 15);
        assert_eq!(usage.count("k", day).await.unwrap(), 25);
        assert_eq!(usage.subtract("k", day, 30).await.unwrap(), 0, "never below zero");
        assert_eq!(usage.count("k", Date::from_epoch(1_795_086_400)).await.unwrap(), 0, "each day counts apart");
    }

    #[tokio::test]
    async fn sent_markers_are_per_job_and_batch() {
        let sent = SentMarkers::new(Arc::new(MemoryStore::new()));
        let id = uuid::Uuid::new_v4();
        assert!(!sent.is_sent(Sent::Job(id)).await.unwrap());
        sent.mark(Sent::Job(id)).await.unwrap();
        sent.mark(Sent::Job(id)).await.unwrap();
        assert!(sent.is_sent(Sent::Job(id)).await.unwrap());
        assert!(!sent.is_sent(Sent::Batch(id)).await.unwrap(), "a job's marker is not its namesake batch's");
    }

    #[tokio::test]
    async fn an_idempotency_key_keeps_its_first_record_per_owner() {
        let idem = IdempotencyKeys::new(Arc::new(MemoryStore::new()));
        let first = IdempotencyRecord { id: uuid::Uuid::new_v4(), fingerprint: "f1".into() };
        let second = IdempotencyRecord { id: uuid::Uuid::new_v4(), fingerprint: "f2".into() };
        assert_eq!(idem.claim(IdempotencyScope::Job, Some("alice"), "k", &first).await.unwrap(), None);
        assert_eq!(idem.claim(IdempotencyScope::Job, Some("alice"), "k", &second).await.unwrap(), Some(first.clone()));
        assert_eq!(idem.claim(IdempotencyScope::Job, Some("bob"), "k", &second).await.unwrap(), None, "another caller's space");
        assert_eq!(idem.claim(IdempotencyScope::Batch, Some("alice"), "k", &second).await.unwrap(), None, "another kind's space");
        assert_eq!(idem.get(IdempotencyScope::Job, Some("alice"), "k").await.unwrap(), Some(first));
        assert_eq!(idem.get(IdempotencyScope::Job, None, "k").await.unwrap(), None);
    }
}
