//! Key layout shared by the implementations (the in-memory store keeps the same names, so a
//! test's view of it reads like the bucket). Only `store/` builds keys; tests read it to look
//! at the bucket as an operator would.

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

/// A chunk of a batch's jobs (see [`super::items`]): under `batches/` so that the batch
/// records' expiry removes it, and outside every batch's marker prefix.
pub fn items(prefix: &str, chunk: u32) -> String {
    format!("batches/items/{prefix}/{chunk:06}.json")
}

pub const ITEMS: &str = "batches/items/";

/// A manifest batch's uploaded JSONL, its fan-out cursor, its invalid lines (a part per
/// chunk while fanning out, then one file): beside the batch record, outside its markers.
pub fn manifest(batch: Uuid) -> String {
    format!("batches/{batch}.manifest.jsonl")
}

pub fn fanout(batch: Uuid) -> String {
    format!("batches/{batch}.fanout.json")
}

pub fn errors_part(batch: Uuid, chunk: u32) -> String {
    format!("batches/{batch}.errors/{chunk:06}.jsonl")
}

pub fn errors_parts(batch: Uuid) -> String {
    format!("batches/{batch}.errors/")
}

pub fn errors(batch: Uuid) -> String {
    format!("batches/{batch}.errors.jsonl")
}

/// A manifest batch's settled chunks (`crate::domain::manifest::Settled`).
pub fn settled(batch: Uuid) -> String {
    format!("batches/{batch}.progress.json")
}

/// A batch's ZIP archive and its record (`crate::domain::archive`).
pub fn archive(batch: Uuid) -> String {
    format!("batches/{batch}.zip")
}

pub fn archive_record(batch: Uuid) -> String {
    format!("batches/{batch}.archive.json")
}

/// An unfinished archive build's state, and what it saved at each stop.
pub fn archive_resume(batch: Uuid) -> String {
    format!("batches/{batch}.archive-build.json")
}

pub fn archive_checkpoint(batch: Uuid, checkpoint: &str, name: &str) -> String {
    format!("batches/{batch}.archive-build/{checkpoint}/{name}")
}

/// Prefix of a batch's status markers: `batches/{id}/{job_id}/{status}`, empty objects
/// written as jobs move, so a batch's progress is one listing rather than one read per job.
pub fn marker_prefix(batch: Uuid) -> String {
    format!("batches/{batch}/")
}

pub fn marker(batch: Uuid, job: Uuid, status: Status) -> String {
    format!("batches/{batch}/{job}/{}", status.as_str())
}

/// Written once a keyed job's message was sent: a replayed key then sends none. Under `jobs/`
/// so that the job records' expiry removes it too (not a job record: no `.json`).
pub fn job_sent(job: Uuid) -> String {
    format!("jobs/{job}/sent")
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
