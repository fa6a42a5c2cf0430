//! Where jobs live: the [`JobStore`] interface owns every record and key (job records, batch
//! records and their status markers, Idempotency-Keys, finished reports), with the S3
//! implementation ([`s3::S3Store`]) and an in-memory one ([`memory::MemoryStore`]) that the
//! domain tests run on in milliseconds.
//!
//! Every write that decides something is conditional: create only what is not there yet,
//! replace only the version that was read. A lost race is an answer ([`Put::Conflict`]), not
//! an error.

pub mod memory;
pub mod s3;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::job::{Batch, Job, Output, Status};

pub use memory::MemoryStore;
pub use s3::S3Store;

/// The store could not be reached or answered with an error: worth another try.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the store's {op} of {key} failed: {message}")]
pub struct StoreError {
    pub op: &'static str,
    pub key: String,
    pub message: String,
}

/// How a conditional write went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// Written; the new version.
    Written(String),
    /// The condition did not hold: the object exists (create) or changed (replace).
    Conflict,
}

/// A presigned GET URL and when it stops working.
#[derive(Debug, Clone, Serialize)]
pub struct Presigned {
    pub url: String,
    pub expires_at: SystemTime,
}

/// What an Idempotency-Key created, and a fingerprint of the request that did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: Uuid,
    pub fingerprint: String,
}

/// The kinds of thing an Idempotency-Key can create; each has its own key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope {
    Job,
    Batch,
}

impl KeyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Job => "job",
            KeyScope::Batch => "batch",
        }
    }
}

/// A job record with the version it was read at (the ETag, for a compare-and-swap).
pub type Versioned<T> = (T, String);

/// Small JSON records by key, written conditionally: what API keys, quota counters and webhook
/// deliveries are kept with ([`records`] gives them types; [`keys`] names them).
#[async_trait::async_trait]
pub trait Objects: Send + Sync + std::fmt::Debug {
    /// The bytes at `key` and their version, or `None`.
    async fn get_object(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError>;
    /// Writes only if absent (`if_match: None`) or only over the version `if_match`.
    async fn put_object_if(&self, key: &str, bytes: Vec<u8>, if_match: Option<&str>) -> Result<Put, StoreError>;
    /// Every key under `prefix`.
    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}

/// Typed reads and writes over [`Objects`], and the one read-modify-write loop.
pub mod records {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::{Objects, Put, StoreError, Versioned};

    pub async fn get<T: DeserializeOwned>(s: &dyn Objects, key: &str) -> Result<Option<Versioned<T>>, StoreError> {
        let Some((bytes, version)) = s.get_object(key).await? else { return Ok(None) };
        let value = serde_json::from_slice(&bytes).map_err(|e| StoreError {
            op: "GetObject",
            key: key.to_string(),
            message: format!("not a valid record: {e}"),
        })?;
        Ok(Some((value, version)))
    }

    pub async fn put<T: Serialize>(s: &dyn Objects, key: &str, value: &T, if_match: Option<&str>) -> Result<Put, StoreError> {
        s.put_object_if(key, serde_json::to_vec(value).expect("records serialise"), if_match).await
    }

    /// Applies `change` to the record at `key` (`None` if there is none) and writes the result
    /// conditionally, again on a lost race, until it is written or `change` declines (`Err`).
    /// What several writers at once cannot miscount: each write is over the version read.
    pub async fn update<T, E>(s: &dyn Objects, key: &str, mut change: impl FnMut(Option<T>) -> Result<T, E>) -> Result<Result<T, E>, StoreError>
    where
        T: Serialize + DeserializeOwned + Clone,
    {
        for round in 0u32.. {
            let current = get::<T>(s, key).await?;
            let version = current.as_ref().map(|(_, v)| v.clone());
            let next = match change(current.map(|(t, _)| t)) {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
            if let Put::Written(_) = put(s, key, &next, version.as_deref()).await? {
                return Ok(Ok(next));
            }
            if round >= 200 {
                return Err(StoreError { op: "PutObject", key: key.into(), message: "gave up after 200 conflicting writes".into() });
            }
            // Lost a race: spread the retries so that 50 writers do not collide in lockstep.
            let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % (5 + 5 * u64::from(round.min(8)));
            tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
        }
        unreachable!("the loop returns")
    }
}

/// Everything reportq keeps. Implementations own the layout (keys, prefixes, metadata).
#[async_trait::async_trait]
pub trait JobStore: Objects {
    /// Creates a job record; `false` if one with that id exists.
    async fn create_job(&self, job: &Job) -> Result<bool, StoreError>;
    async fn job(&self, id: Uuid) -> Result<Option<Versioned<Job>>, StoreError>;
    /// Replaces a job record only if it is still at `version`.
    async fn replace_job(&self, job: &Job, version: &str) -> Result<Put, StoreError>;

    /// Creates a batch record; `false` if one with that id exists.
    async fn create_batch(&self, batch: &Batch) -> Result<bool, StoreError>;
    async fn batch(&self, id: Uuid) -> Result<Option<Batch>, StoreError>;
    /// Records that a batch's job reached `status` (markers are only added).
    async fn mark(&self, batch: Uuid, job: Uuid, status: Status) -> Result<(), StoreError>;
    /// Each job of a batch that has moved past `queued`, with the furthest status recorded.
    async fn batch_statuses(&self, batch: Uuid) -> Result<HashMap<Uuid, Status>, StoreError>;

    /// Records `record` under an Idempotency-Key (in `owner`'s key space) if the key is new (`None`); otherwise returns
    /// what the key recorded first.
    async fn claim_key(&self, scope: KeyScope, owner: Option<&str>, key: &str, record: &KeyRecord) -> Result<Option<KeyRecord>, StoreError>;

    /// A finished report's size and hash, if one was uploaded for this job.
    async fn report_info(&self, job: Uuid) -> Result<Option<Output>, StoreError>;
    /// Uploads a report only if none is there (`Put::Conflict` otherwise).
    async fn create_report(&self, job: Uuid, pdf: Vec<u8>, sha256: &str) -> Result<Put, StoreError>;
    /// Uploads a report over whatever is there.
    async fn overwrite_report(&self, job: Uuid, pdf: Vec<u8>, sha256: &str) -> Result<(), StoreError>;
    async fn report(&self, job: Uuid) -> Result<Option<Vec<u8>>, StoreError>;
    /// A URL that downloads the report without credentials until `expiry` has passed, saved
    /// as `filename`.
    async fn report_url(&self, job: Uuid, expiry: Duration, filename: &str) -> Result<Presigned, StoreError>;
    /// Records that every message of a batch was sent (a replayed key then sends none).
    async fn mark_batch_sent(&self, batch: Uuid) -> Result<(), StoreError>;
    async fn batch_sent(&self, batch: Uuid) -> Result<bool, StoreError>;
    /// Whether the store answers at all (`/healthz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Ids of the job records last written before `epoch` (the sweep's candidates; an
    /// implementation may return more, the sweep reads each record).
    async fn jobs_written_before(&self, epoch: i64) -> Result<Vec<Uuid>, StoreError>;
}

/// Key layout shared by the implementations (the in-memory store keeps the same names, so a
/// test's view of it reads like the bucket).
pub mod keys {
    use uuid::Uuid;

    use crate::domain::job::Status;

    pub fn job(id: Uuid) -> String {
        format!("jobs/{id}.json")
    }

    pub const JOBS: &str = "jobs/";

    /// The job id a job record's key names.
    pub fn parse_job(key: &str) -> Option<Uuid> {
        key.strip_prefix(JOBS)?.strip_suffix(".json")?.parse().ok()
    }

    pub fn report(id: Uuid) -> String {
        format!("reports/{id}.pdf")
    }

    pub fn batch(id: Uuid) -> String {
        format!("batches/{id}.json")
    }

    /// Prefix of a batch's status markers: `batches/{id}/{job_id}/{status}`, empty objects
    /// written as jobs move, so a batch's progress is one listing rather than one read per job.
    pub fn marker_prefix(batch: Uuid) -> String {
        format!("batches/{batch}/")
    }

    pub fn marker(batch: Uuid, job: Uuid, status: Status) -> String {
        format!("batches/{batch}/{job}/{}", status.as_str())
    }

    /// Written once a batch's messages were all sent (not a job marker: no job id in it).
    pub fn batch_sent(batch: Uuid) -> String {
        format!("batches/{batch}/sent")
    }

    /// Keys are stored hashed: a key is the caller's text and may hold anything. Each caller
    /// (`owner`) has its own key space, so one caller's key can neither collide with nor reveal
    /// another's; without an owner (authentication off) the space is shared, as before.
    pub fn idempotency(scope: &str, owner: Option<&str>, key: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        if let Some(owner) = owner {
            h.update(owner.as_bytes());
            h.update([0]);
        }
        h.update(key.as_bytes());
        format!("idempotency/{scope}/{}.json", hex::encode(h.finalize()))
    }

    pub const API_KEYS: &str = "apikeys/";

    /// An API key's record (its hash, name, scopes, quota; never the key).
    pub fn api_key(id: &str) -> String {
        format!("{API_KEYS}{id}.json")
    }

    /// A key's count of reports submitted on a UTC day (`YYYY-MM-DD`).
    pub fn usage(id: &str, day: &str) -> String {
        format!("usage/{id}/{day}.json")
    }

    /// A webhook delivery's record.
    pub fn delivery(webhook_id: &str) -> String {
        format!("webhooks/{webhook_id}.json")
    }

    /// Reads a marker key back: (job, status).
    pub fn parse_marker(prefix: &str, key: &str) -> Option<(Uuid, Status)> {
        let mut parts = key.strip_prefix(prefix)?.split('/');
        let job = parts.next()?.parse().ok()?;
        let status = Status::parse(parts.next()?)?;
        Some((job, status))
    }
}

/// Folds marker keys into each job's furthest status (markers are only added, so a late
/// listing can only lag, never go back).
pub fn furthest(markers: impl IntoIterator<Item = (Uuid, Status)>) -> HashMap<Uuid, Status> {
    let mut out = HashMap::new();
    for (job, status) in markers {
        let e = out.entry(job).or_insert(status);
        if status > *e {
            *e = status;
        }
    }
    out
}
