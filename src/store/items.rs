//! A batch's jobs, stored as chunk records (`batches/items/{prefix}/{chunk}.json`, [`CHUNK`]
//! jobs each) rather than one record per job: accepting 1,000 jobs is ten writes, not a
//! thousand. A job keeps living in its chunk until its first change (the worker's claim, a
//! sweep) creates its own record, conditionally, so two writers cannot both make it:
//!
//! - [`job`] reads a job's own record, else (for an id [`item_id`] made) its entry in the
//!   chunk, at the version [`UNWRITTEN`];
//! - a replace at [`UNWRITTEN`] is a create-only write ([`if_match`]): whoever created the
//!   record first wins, the other sees a conflict and reads again, as with any lost race.
//!
//! Chunks are create-only too: a retried submit writes the same chunks and keeps the first.

use uuid::Uuid;

use super::{Objects, Put, StoreError, Versioned, keys, records};
use crate::domain::job::{Job, item_of};

/// Jobs per chunk record. A job's first read (the worker's claim) reads its whole chunk:
/// 100 DiAGRAM requests are about 150 KB.
pub const CHUNK: u32 = crate::domain::manifest::CHUNK_LINES;

/// The version of a job that has no record of its own yet.
pub const UNWRITTEN: &str = "unwritten";

/// The condition a replace over `version` writes with: create-only for [`UNWRITTEN`].
pub fn if_match(version: &str) -> Option<&str> {
    (version != UNWRITTEN).then_some(version)
}

/// A job: its own record, else its entry in its batch's chunk.
pub async fn job(s: &dyn Objects, id: Uuid) -> Result<Option<Versioned<Job>>, StoreError> {
    if let Some(found) = records::get::<Job>(s, &keys::job(id)).await? {
        return Ok(Some(found));
    }
    let Some((prefix, index)) = item_of(id) else { return Ok(None) };
    let Some((chunk, _)) = records::get::<Vec<Job>>(s, &keys::items(&prefix, index / CHUNK)).await? else { return Ok(None) };
    let Some(item) = chunk.into_iter().find(|j| j.id == id) else { return Ok(None) };
    // The record may have been created since it was looked for: then a write at UNWRITTEN
    // conflicts and the writer reads again.
    Ok(Some((item, UNWRITTEN.to_string())))
}

/// Stores jobs made by [`item_id`](crate::domain::job::item_id), grouped by chunk. A chunk
/// already there is kept (a retry writes the same jobs). Returns the chunks written.
pub async fn create(s: &dyn Objects, jobs: &[Job]) -> Result<usize, StoreError> {
    use futures::StreamExt;
    let mut chunks: std::collections::BTreeMap<(String, u32), Vec<&Job>> = Default::default();
    for job in jobs {
        let (prefix, index) =
            item_of(job.id).ok_or_else(|| StoreError { op: "PutObject", key: keys::job(job.id), message: "not a batch item's id".into() })?;
        chunks.entry((prefix, index / CHUNK)).or_default().push(job);
    }
    // Serialised first: the writes then own what they send.
    let bodies: Vec<(String, Vec<u8>)> =
        chunks.into_iter().map(|((prefix, n), jobs)| (keys::items(&prefix, n), serde_json::to_vec(&jobs).expect("records serialise"))).collect();
    let written: Vec<Result<Put, StoreError>> = futures::stream::iter(bodies)
        .map(|(key, bytes)| async move { s.put_object_if(&key, bytes, None).await })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut made = 0;
    for w in written {
        made += usize::from(matches!(w?, Put::Written(_)));
    }
    Ok(made)
}

/// The ids of the jobs in the chunk records at `keys` (the sweep's candidates).
pub async fn ids_in(s: &dyn Objects, chunk_keys: &[String]) -> Result<Vec<Uuid>, StoreError> {
    let mut ids = Vec::new();
    for key in chunk_keys {
        if let Some((chunk, _)) = records::get::<Vec<Job>>(s, key).await? {
            ids.extend(chunk.iter().map(|j| j.id));
        }
    }
    Ok(ids)
}

/// The ids of a batch's items in chunks `chunks` (in line order): a manifest batch's page.
pub async fn batch_items(s: &dyn Objects, batch: Uuid, chunks: std::ops::Range<u32>) -> Result<Vec<Uuid>, StoreError> {
    let Some((prefix, _)) = item_of(crate::domain::job::item_id(batch, 0)) else { return Ok(Vec::new()) };
    let keys: Vec<String> = chunks.map(|n| keys::items(&prefix, n)).collect();
    ids_in(s, &keys).await
}
