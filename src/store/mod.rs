//! Where jobs live: the store owns every record and key. [`JobStore`] keeps job records, batch
//! records and their status markers and finished reports, with the S3 implementation
//! ([`s3::S3Store`]) and an in-memory one ([`memory::MemoryStore`]) that the domain tests run
//! on in milliseconds. The small records (API keys, quota counts, webhook deliveries,
//! Idempotency-Keys) and the download links are typed stores over the narrow [`Objects`]
//! trait ([`typed`]): no code outside `store/` builds a key or decodes a record (checked by
//! `scripts/check-layout.py`).
//!
//! Every write that decides something is conditional: create only what is not there yet,
//! replace only the version that was read. A lost race is an answer ([`Put::Conflict`]), not
//! an error.

mod archive;
mod fanout;
pub mod items;
pub mod keys;
pub mod memory;
mod records;
pub mod s3;
mod typed;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::job::{Batch, Job, Output, Status};

pub use archive::ArchiveRecords;
pub use fanout::FanoutRecords;
pub use memory::MemoryStore;
pub use s3::S3Store;
pub use typed::{ApiKeys, Deliveries, IdempotencyKeys, ReportLink, ReportLinks, Sent, SentMarkers, Usage};

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
pub struct IdempotencyRecord {
    pub id: Uuid,
    pub fingerprint: String,
}

/// The kinds of thing an Idempotency-Key can create; each has its own key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdempotencyScope {
    Job,
    Batch,
}

impl IdempotencyScope {
    pub fn as_str(self) -> &'static str {
        match self {
            IdempotencyScope::Job => "job",
            IdempotencyScope::Batch => "batch",
        }
    }
}

/// A job record with the version it was read at (the ETag, for a compare-and-swap).
pub type Versioned<T> = (T, String);

/// Small JSON records by key, written conditionally: what API keys, quota counters and webhook
/// deliveries are kept with. Only the typed stores ([`ApiKeys`], [`Usage`], [`Deliveries`],
/// [`IdempotencyKeys`]) name keys under it.
#[async_trait::async_trait]
pub trait Objects: Send + Sync + std::fmt::Debug {
    /// The bytes at `key` and their version, or `None`.
    async fn get_object(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError>;
    /// Writes only if absent (`if_match: None`) or only over the version `if_match`.
    async fn put_object_if(&self, key: &str, bytes: Vec<u8>, if_match: Option<&str>) -> Result<Put, StoreError>;
    /// Every key under `prefix`.
    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}

/// Everything reportq keeps. Implementations own the layout (keys, prefixes, metadata).
#[async_trait::async_trait]
pub trait JobStore: Objects {
    /// Creates a job record; `false` if one with that id exists.
    async fn create_job(&self, job: &Job) -> Result<bool, StoreError>;
    /// A job: its record, or a batch item not yet written on its own ([`items`]).
    async fn job(&self, id: Uuid) -> Result<Option<Versioned<Job>>, StoreError>;
    /// Replaces a job record only if it is still at `version` (creates it at
    /// [`items::UNWRITTEN`]).
    async fn replace_job(&self, job: &Job, version: &str) -> Result<Put, StoreError>;
    /// Stores a batch's jobs (ids from [`crate::domain::job::item_id`]) a chunk at a time;
    /// chunks already there are kept. Returns how many chunks this call wrote.
    async fn create_items(&self, jobs: &[Job]) -> Result<usize, StoreError>;

    /// Creates a batch record; `false` if one with that id exists.
    async fn create_batch(&self, batch: &Batch) -> Result<bool, StoreError>;
    async fn batch(&self, id: Uuid) -> Result<Option<Batch>, StoreError>;
    /// Records that a batch's job reached `status` (markers are only added).
    async fn mark(&self, batch: Uuid, job: Uuid, status: Status) -> Result<(), StoreError>;
    /// Each job of a batch that has moved past `queued`, with the furthest status recorded.
    async fn batch_statuses(&self, batch: Uuid) -> Result<HashMap<Uuid, Status>, StoreError>;
    /// The same for the batch's items with an index in `lines` ([`crate::domain::job::item_id`]):
    /// an item id ends in its index, so their markers are one range of keys, listed alone.
    async fn item_statuses(&self, batch: Uuid, lines: std::ops::Range<u32>) -> Result<HashMap<Uuid, Status>, StoreError>;

    /// A finished report's size and hash, if one was uploaded for this job.
    async fn report_info(&self, job: Uuid) -> Result<Option<Output>, StoreError>;
    /// Uploads a report only if none is there: where it went, or `None` if one was there.
    async fn create_report(&self, job: Uuid, pdf: Vec<u8>, sha256: &str) -> Result<Option<Output>, StoreError>;
    /// Uploads a report over whatever is there.
    async fn overwrite_report(&self, job: Uuid, pdf: Vec<u8>, sha256: &str) -> Result<Output, StoreError>;
    async fn report(&self, job: Uuid) -> Result<Option<Vec<u8>>, StoreError>;
    /// A URL that downloads the report without credentials until `expiry` has passed, saved
    /// as `filename`.
    async fn report_url(&self, job: Uuid, expiry: Duration, filename: &str) -> Result<Presigned, StoreError>;
    /// A URL a client PUTs a batch's manifest to, without credentials, until `expiry`.
    async fn manifest_upload_url(&self, batch: Uuid, expiry: Duration) -> Result<Presigned, StoreError>;
    /// The uploaded manifest's size, or `None` before it is uploaded.
    async fn manifest_size(&self, batch: Uuid) -> Result<Option<u64>, StoreError>;
    /// Bytes `from..from + len` of the manifest (fewer at its end).
    async fn manifest_range(&self, batch: Uuid, from: u64, len: u64) -> Result<Vec<u8>, StoreError>;
    /// Stores a manifest (what a presigned PUT does; the CLI and tests over the memory store).
    async fn put_manifest(&self, batch: Uuid, bytes: Vec<u8>) -> Result<(), StoreError>;
    /// A download of the batch's `errors.jsonl`, once its fan-out is done.
    async fn errors_url(&self, batch: Uuid, expiry: Duration) -> Result<Presigned, StoreError>;
    /// Starts writing a batch's archive in parts (an S3 multipart upload): the upload's id.
    async fn begin_archive(&self, batch: Uuid) -> Result<String, StoreError>;
    /// Part `number` (from 1; every part but the last at least 5 MiB): its ETag.
    async fn archive_part(&self, batch: Uuid, upload: &str, number: i32, bytes: Vec<u8>) -> Result<String, StoreError>;
    /// Joins the parts: the archive replaces any earlier one at once, whole.
    async fn finish_archive(&self, batch: Uuid, upload: &str, parts: Vec<(i32, String)>) -> Result<(), StoreError>;
    /// Drops an unfinished upload's parts.
    async fn abort_archive(&self, batch: Uuid, upload: &str) -> Result<(), StoreError>;
    /// A download of the batch's archive, saved as `filename`.
    async fn archive_url(&self, batch: Uuid, expiry: Duration, filename: &str) -> Result<Presigned, StoreError>;
    /// Whether the store answers at all (`/healthz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Ids of the job records last written before `epoch` (the sweep's candidates; an
    /// implementation may return more, the sweep reads each record).
    async fn jobs_written_before(&self, epoch: i64) -> Result<Vec<Uuid>, StoreError>;
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
