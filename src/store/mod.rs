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
#[error("S3 {op} of {key} failed: {message}")]
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

/// Everything reportq keeps. Implementations own the layout (keys, prefixes, metadata).
#[async_trait::async_trait]
pub trait JobStore: Send + Sync + std::fmt::Debug {
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

    /// Records `record` under an Idempotency-Key if the key is new (`None`); otherwise returns
    /// what the key recorded first.
    async fn claim_key(&self, scope: KeyScope, key: &str, record: &KeyRecord) -> Result<Option<KeyRecord>, StoreError>;

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

    /// Keys are stored hashed: a key is the caller's text and may hold anything.
    pub fn idempotency(scope: &str, key: &str) -> String {
        use sha2::{Digest, Sha256};
        format!("idempotency/{scope}/{}.json", hex::encode(Sha256::digest(key.as_bytes())))
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
