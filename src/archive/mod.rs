//! Builds a batch's archive ([`crate::domain::archive`]): every finished PDF and a
//! `manifest.csv`, streamed into one S3 multipart upload.
//!
//! Memory is bounded by the part size, not the batch: PDFs are fetched a few at a time
//! ([`FETCH_AHEAD`]), appended to a part buffer, and the buffer is uploaded each time it passes
//! [`PART_BYTES`]. What grows with the batch is only what a ZIP and a CSV must hold to the end:
//! the central directory (about 100 bytes a report) and the CSV's rows (about 150 bytes a
//! row): 25 MB at 100,000.
//!
//! Only jobs the batch's markers show as `succeeded` or `failed` are read (a job record and,
//! for a PDF, the report): a poll-sized cost per finished job, nothing for queued ones.

pub mod zip;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use std::time::{Duration, Instant};

use crate::domain::archive::{Archive, ArchiveResume, ArchiveState, CSV_HEADER, csv_row};
use crate::domain::job::{Status, item_id};
use crate::domain::now_epoch;
use crate::store::{ArchiveRecords, FanoutRecords, JobStore, Put, StoreError};

/// The part size of the upload (S3 wants at least 5 MiB for every part but the last, and at
/// most 10,000 parts: 80 GB at this size).
pub const PART_BYTES: usize = 8 << 20;
/// PDFs fetched ahead of the one being written.
pub const FETCH_AHEAD: usize = 8;

/// The message that asks for a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveMessage {
    pub archive: Uuid,
    pub requested_at: i64,
}

impl ArchiveMessage {
    /// Reads a queue message's body: `None` for anything else.
    pub fn parse(body: &str) -> Option<Self> {
        if !body.contains("\"archive\"") {
            return None;
        }
        serde_json::from_str(body).ok()
    }

    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("serialises")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no batch {0}")]
    NoSuchBatch(Uuid),
}

/// How a build request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildOutcome {
    Built(Archive),
    /// A later request was made meanwhile: its own message builds.
    Superseded,
    /// This request's archive was built already (a duplicate message).
    AlreadyBuilt,
    /// The budget ran out with rows left: the message must be sent again to go on.
    Continue,
}

impl BuildOutcome {
    pub fn kind(&self) -> &'static str {
        match self {
            BuildOutcome::Built(_) => "ArchiveBuilt",
            BuildOutcome::Superseded => "ArchiveSuperseded",
            BuildOutcome::AlreadyBuilt => "ArchiveAlreadyBuilt",
            BuildOutcome::Continue => "ArchiveContinues",
        }
    }
}

/// One row of `manifest.csv` as it is fetched.
struct Row {
    line: u32,
    job: Option<Uuid>,
    status: &'static str,
    error: String,
    pdf: Option<(String, Vec<u8>)>,
}

/// Builds the archive `msg` asks for, from where an earlier invocation stopped. With a
/// `budget`, stops once it is spent and more rows remain, saving where it was
/// ([`BuildOutcome::Continue`]: the caller sends the message again); a crash resumes from the
/// last save, and the parts uploaded after it are uploaded again under the same numbers.
pub async fn build(store: &dyn JobStore, msg: ArchiveMessage, budget: Option<Duration>) -> Result<BuildOutcome, ArchiveError> {
    let started = Instant::now();
    let id = msg.archive;
    let records = ArchiveRecords(store);
    let (current, version) = match records.get(id).await? {
        Some((a, v)) => (Some(a), Some(v)),
        None => (None, None),
    };
    match &current {
        Some(a) if a.requested_at > msg.requested_at => {
            drop_resume(store, id, Some(msg.requested_at)).await?;
            return Ok(BuildOutcome::Superseded);
        }
        Some(a) if a.requested_at == msg.requested_at && a.state != ArchiveState::Building => return Ok(BuildOutcome::AlreadyBuilt),
        _ => {}
    }
    let batch = store.batch(id).await?.ok_or(ArchiveError::NoSuchBatch(id))?;
    // An earlier request's unfinished build is dropped; this request's is taken up again.
    let resumed = match records.resume(id).await? {
        Some(r) if r.requested_at == msg.requested_at => Some(r),
        Some(_) => {
            drop_resume(store, id, None).await?;
            None
        }
        None => None,
    };
    let one_go = resumed.is_none();
    let (mut st, mut zip, mut csv, mut buf) = match resumed {
        Some(r) => {
            let central = records.blob(id, &r.checkpoint, "central").await?;
            let zip = zip::ZipWriter::resume(batch.created_at_epoch, r.zip_offset, r.zip_entries, central);
            let (csv, tail) = (records.blob(id, &r.checkpoint, "csv").await?, records.blob(id, &r.checkpoint, "tail").await?);
            (r, zip, csv, tail)
        }
        None => {
            let progress = crate::batch::progress(store, &batch).await?;
            let rows = match &batch.manifest {
                Some(_) => progress.cursor.as_ref().map_or(0, |c| c.next_line),
                None => batch.job_ids.len() as u32,
            };
            let upload = store.begin_archive(id).await?;
            let st = ArchiveResume { requested_at: msg.requested_at, upload, partial: !progress.done, rows, ..Default::default() };
            let mut csv = Vec::new();
            csv_row(&CSV_HEADER, &mut csv);
            (st, zip::ZipWriter::new(batch.created_at_epoch), csv, Vec::new())
        }
    };
    // Every line (a manifest's, as read when the build began) or job, in order.
    let lines: Vec<(u32, Uuid)> = match &batch.manifest {
        Some(_) => (st.next_row..st.rows).map(|n| (n + 1, item_id(id, n))).collect(),
        None => batch.job_ids.iter().enumerate().skip(st.next_row as usize).map(|(i, j)| (i as u32 + 1, *j)).collect(),
    };
    let invalid = if batch.manifest.is_some() { FanoutRecords(store).line_errors(id).await? } else { Default::default() };
    // Every job's status (a manifest's progress lists only its unsettled chunks).
    let moved = &store.batch_statuses(id).await?;
    let fetch = |(line, job): (u32, Uuid)| {
        let invalid = invalid.get(&line).cloned();
        let status = moved.get(&job).copied();
        async move {
            if let Some(e) = invalid {
                return Ok::<_, StoreError>(Row { line, job: None, status: "invalid", error: format!("{}: {}", e.field, e.message), pdf: None });
            }
            let status = status.unwrap_or(Status::Queued);
            let mut row = Row { line, job: Some(job), status: status.as_str(), error: String::new(), pdf: None };
            if matches!(status, Status::Succeeded | Status::Failed) {
                let Some((record, _)) = store.job(job).await? else { return Ok(row) };
                if let Some(e) = &record.error {
                    row.error = format!("{}: {}", e.code, e.message);
                }
                if status == Status::Succeeded {
                    match store.report(job).await? {
                        Some(pdf) => row.pdf = Some((format!("{line:06}-{}", record.filename()), pdf)),
                        None => row.error = "the report is no longer stored".into(),
                    }
                }
            }
            Ok(row)
        }
    };

    // Saved before the first row: a retry takes up this upload rather than starting another.
    if one_go {
        records.save_resume(id, &mut st, zip.central(), &csv, &buf).await?;
    }
    let mut hash = one_go.then(Sha256::new);
    let mut fetched = futures::stream::iter(lines).map(fetch).buffered(FETCH_AHEAD);
    while let Some(row) = fetched.next().await {
        let row = row?;
        let job = row.job.map(|j| j.to_string()).unwrap_or_default();
        let (file, sha) = match &row.pdf {
            Some((name, pdf)) => {
                zip.add(name, pdf, &mut buf);
                st.reports += 1;
                (name.as_str(), hex::encode(Sha256::digest(pdf)))
            }
            None => ("", String::new()),
        };
        csv_row(&[&row.line.to_string(), &job, file, &sha, row.status, &row.error], &mut csv);
        st.next_row += 1;
        if buf.len() >= PART_BYTES {
            upload_part(store, id, &mut st, &mut buf, hash.as_mut()).await?;
        }
        if budget.is_some_and(|b| started.elapsed() >= b) && st.next_row < st.rows {
            (st.zip_offset, st.zip_entries) = (zip.written(), zip.entries());
            records.save_resume(id, &mut st, zip.central(), &csv, &buf).await?;
            tracing::info!(batch_id = %id, next_row = st.next_row, rows = st.rows, "archive build continues in another invocation");
            return Ok(BuildOutcome::Continue);
        }
    }
    zip.add("manifest.csv", &csv, &mut buf);
    drop(csv);
    zip.finish(&mut buf);
    upload_part(store, id, &mut st, &mut buf, hash.as_mut()).await?;
    store.finish_archive(id, &st.upload, st.parts.clone()).await?;
    let built = Archive {
        state: ArchiveState::Ready,
        requested_at: msg.requested_at,
        partial: st.partial,
        reports: st.reports,
        rows: st.rows,
        size: st.size,
        sha256: hash.map(|h| hex::encode(h.finalize())),
        built_at: Some(now_epoch()),
        error: None,
    };
    records.clear_resume(id).await?;
    match records.put(id, &built, version.as_deref()).await? {
        Put::Written(_) => {
            tracing::info!(batch_id = %id, reports = st.reports, rows = st.rows, size = st.size, partial = st.partial, "archive built");
            Ok(BuildOutcome::Built(built))
        }
        Put::Conflict => Ok(BuildOutcome::Superseded),
    }
}

/// Uploads the buffered bytes as the next part.
async fn upload_part(store: &dyn JobStore, id: Uuid, st: &mut ArchiveResume, buf: &mut Vec<u8>, hash: Option<&mut Sha256>) -> Result<(), StoreError> {
    if let Some(h) = hash {
        h.update(&buf[..]);
    }
    st.size += buf.len() as u64;
    let n = st.parts.len() as i32 + 1;
    let etag = store.archive_part(id, &st.upload, n, std::mem::take(buf)).await?;
    st.parts.push((n, etag));
    Ok(())
}

/// Drops an unfinished build (its saved state and its upload's parts), unless it answers
/// `keep`.
async fn drop_resume(store: &dyn JobStore, id: Uuid, keep: Option<i64>) -> Result<(), StoreError> {
    let records = ArchiveRecords(store);
    if let Some(r) = records.resume(id).await?.filter(|r| Some(r.requested_at) != keep) {
        if let Err(e) = store.abort_archive(id, &r.upload).await {
            tracing::warn!(batch_id = %id, error = %e, "aborting an unfinished archive upload failed");
        }
        records.clear_resume(id).await?;
    }
    Ok(())
}

/// Records that `msg`'s build failed for good (its last delivery), unless a later request
/// was made meanwhile.
pub async fn give_up(store: &dyn JobStore, msg: ArchiveMessage, reason: &str) -> Result<(), StoreError> {
    let records = ArchiveRecords(store);
    let (current, version) = match records.get(msg.archive).await? {
        Some((a, v)) => (a, Some(v)),
        None => (Archive::requested(msg.requested_at), None),
    };
    if current.requested_at > msg.requested_at {
        return Ok(());
    }
    let failed = Archive { state: ArchiveState::Failed, error: Some(reason.to_string()), ..current };
    records.put(msg.archive, &failed, version.as_deref()).await.map(|_| ())
}
