//! A batch's progress, computed once for every reader (`GET /v1/batches/{id}`, the
//! `batch.completed` webhook, the manifest fan-out's last step):
//!
//! - a batch of `POST /v1/reports/batch` lists its jobs; a job without a status marker is
//!   `queued`;
//! - a manifest batch's jobs are its valid lines ([`crate::fanout`]); until the fan-out has
//!   read every line the batch is not done, whatever its jobs say, so `batch.completed`
//!   cannot fire while lines are still being read (the fan-out asks once more at its end).

use std::collections::HashMap;

use uuid::Uuid;

use crate::domain::job::{Batch, Status};
use crate::domain::manifest::Cursor;
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
    /// Each job that moved past `queued`, with its furthest status.
    pub moved: HashMap<Uuid, Status>,
    /// A manifest batch's fan-out cursor (`None` before its fan-out starts, and for others).
    pub cursor: Option<Cursor>,
}

/// One listing of the markers (and, for a manifest, one read of its cursor).
pub async fn progress(store: &dyn JobStore, batch: &Batch) -> Result<Progress, StoreError> {
    let moved = store.batch_statuses(batch.id).await?;
    let mut counts = Counts::default();
    if batch.manifest.is_none() {
        batch.job_ids.iter().for_each(|j| counts.add(moved.get(j).copied().unwrap_or(Status::Queued)));
        let done = counts.queued + counts.running == 0;
        return Ok(Progress { total: batch.job_ids.len(), counts, done, moved, cursor: None });
    }
    let cursor = FanoutRecords(store).cursor(batch.id).await?.map(|(c, _)| c);
    moved.values().for_each(|s| counts.add(*s));
    let valid = cursor.as_ref().map_or(0, |c| c.valid as usize);
    // Markers of jobs a fan-out has sent but not yet counted (it died before its cursor
    // write) can exceed the count: never report a negative queue.
    counts.queued = valid.saturating_sub(moved.len());
    let read_all = cursor.as_ref().is_some_and(|c| c.done);
    let done = read_all && counts.queued + counts.running == 0;
    Ok(Progress { total: valid.max(moved.len()), counts, done, moved, cursor })
}
