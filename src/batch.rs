//! A batch's progress, computed once for every reader (`GET /v1/batches/{id}`, the
//! `batch.completed` webhook, the manifest fan-out's last step):
//!
//! - a batch of `POST /v1/reports/batch` lists its jobs; a job without a status marker is
//!   `queued`;
//! - a manifest batch's jobs are its valid lines ([`crate::fanout`]); until the fan-out has
//!   read every line the batch is not done, whatever its jobs say, so `batch.completed`
//!   cannot fire while lines are still being read (the fan-out asks once more at its end);
//! - a manifest's chunks whose jobs are all final are settled (their counts kept in one
//!   record), so a poll or a job's end lists only the markers of the chunks after them: its
//!   cost follows the jobs in flight, not the batch's size.

use std::collections::HashMap;

use uuid::Uuid;

use crate::domain::job::{Batch, Status, item_of};
use crate::domain::manifest::{CHUNK_LINES, Cursor, Settled};
use crate::store::{FanoutRecords, JobStore, StoreError};
use crate::wire::Counts;

/// Where a batch stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Jobs known so far (a manifest's: its valid lines read so far).
    pub total: usize,
    pub counts: Counts,
    /// Every job is final (and, for a manifest, every line was read).
    pub done: bool,
    /// Each job that moved past `queued`, with its furthest status (a manifest's: only the
    /// jobs after its settled chunks).
    pub moved: HashMap<Uuid, Status>,
    /// A manifest batch's fan-out cursor (`None` before its fan-out starts, and for others).
    pub cursor: Option<Cursor>,
}

/// One listing of the markers (for a manifest: of the chunks not yet settled, plus a read of
/// its cursor and of its settled chunks, which it extends when more have become final).
pub async fn progress(store: &dyn JobStore, batch: &Batch) -> Result<Progress, StoreError> {
    let mut counts = Counts::default();
    if batch.manifest.is_none() {
        let moved = store.batch_statuses(batch.id).await?;
        batch.job_ids.iter().for_each(|j| counts.add(moved.get(j).copied().unwrap_or(Status::Queued)));
        let done = counts.queued + counts.running == 0;
        return Ok(Progress { total: batch.job_ids.len(), counts, done, moved, cursor: None });
    }
    let records = FanoutRecords(store);
    let cursor = records.cursor(batch.id).await?.map(|(c, _)| c);
    let (settled, version) = match records.settled(batch.id).await? {
        Some((s, v)) => (s, Some(v)),
        None => (Settled::default(), None),
    };
    // Only the markers after the settled chunks: the in-flight part of the batch.
    let moved = store.item_statuses(batch.id, settled.chunks * CHUNK_LINES..u32::MAX).await?;
    counts.succeeded = settled.succeeded as usize;
    counts.failed = settled.failed as usize;
    moved.values().for_each(|s| counts.add(*s));
    let valid = cursor.as_ref().map_or(0, |c| c.valid as usize);
    let known = (settled.succeeded + settled.failed) as usize + moved.len();
    // Markers of jobs a fan-out has sent but not yet counted (it died before its cursor
    // write) can exceed the count: never report a negative queue.
    counts.queued = valid.saturating_sub(known);
    let read_all = cursor.as_ref().is_some_and(|c| c.done);
    let done = read_all && counts.queued + counts.running == 0;
    if let Some(c) = &cursor {
        let next = settle(&settled, c, &moved);
        if next.chunks > settled.chunks {
            // A lost race means another reader settled them: either way they are settled.
            records.put_settled(batch.id, &next, version.as_deref()).await?;
        }
    }
    Ok(Progress { total: valid.max(known), counts, done, moved, cursor })
}

/// `settled` extended over the chunks after it whose every job is now final, in order: a
/// chunk the fan-out has counted ([`Cursor::valid_per_chunk`]) with as many final markers.
pub fn settle(settled: &Settled, cursor: &Cursor, moved: &HashMap<Uuid, Status>) -> Settled {
    let mut finals: HashMap<u32, (u32, u32)> = HashMap::new();
    for (id, status) in moved {
        let Some((_, index)) = item_of(*id) else { continue };
        let e = finals.entry(index / CHUNK_LINES).or_default();
        match status {
            Status::Succeeded => e.0 += 1,
            Status::Failed => e.1 += 1,
            _ => {}
        }
    }
    let mut next = settled.clone();
    while let Some(&valid) = cursor.valid_per_chunk.get(next.chunks as usize) {
        let (succeeded, failed) = finals.get(&next.chunks).copied().unwrap_or_default();
        if succeeded + failed != u32::from(valid) {
            break;
        }
        next = Settled { chunks: next.chunks + 1, succeeded: next.succeeded + succeeded, failed: next.failed + failed };
    }
    next
}
