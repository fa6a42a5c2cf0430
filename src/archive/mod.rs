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

use crate::domain::archive::{Archive, ArchiveState, CSV_HEADER, csv_row};
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
}

impl BuildOutcome {
    pub fn kind(&self) -> &'static str {
        match self {
            BuildOutcome::Built(_) => "ArchiveBuilt",
            BuildOutcome::Superseded => "ArchiveSuperseded",
            BuildOutcome::AlreadyBuilt => "ArchiveAlreadyBuilt",
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

/// Builds the archive `msg` asks for.
pub async fn build(store: &dyn JobStore, msg: ArchiveMessage) -> Result<BuildOutcome, ArchiveError> {
    let id = msg.archive;
    let records = ArchiveRecords(store);
    let (current, version) = match records.get(id).await? {
        Some((a, v)) => (Some(a), Some(v)),
        None => (None, None),
    };
    match &current {
        Some(a) if a.requested_at > msg.requested_at => return Ok(BuildOutcome::Superseded),
        Some(a) if a.requested_at == msg.requested_at && a.state != ArchiveState::Building => return Ok(BuildOutcome::AlreadyBuilt),
        _ => {}
    }
    let batch = store.batch(id).await?.ok_or(ArchiveError::NoSuchBatch(id))?;
    let progress = crate::batch::progress(store, &batch).await?;
    let partial = !progress.done;

    // Every line (a manifest's, as read so far) or job, in order, with what is known of it.
    let lines: Vec<(u32, Uuid)> = match &batch.manifest {
        Some(_) => (0..progress.cursor.as_ref().map_or(0, |c| c.next_line)).map(|n| (n + 1, item_id(id, n))).collect(),
        None => batch.job_ids.iter().enumerate().map(|(i, j)| (i as u32 + 1, *j)).collect(),
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

    let upload = store.begin_archive(id).await?;
    let written = async {
        let mut zip = zip::ZipWriter::new(batch.created_at_epoch);
        let mut csv = Vec::new();
        csv_row(&CSV_HEADER, &mut csv);
        let mut buf = Vec::with_capacity(PART_BYTES + (1 << 20));
        let mut parts = Vec::new();
        let mut hash = Sha256::new();
        let (mut reports, mut rows, mut size) = (0u32, 0u32, 0u64);
        let mut fetched = futures::stream::iter(lines).map(fetch).buffered(FETCH_AHEAD);
        while let Some(row) = fetched.next().await {
            let row = row?;
            let job = row.job.map(|j| j.to_string()).unwrap_or_default();
            let (file, sha) = match &row.pdf {
                Some((name, pdf)) => {
                    zip.add(name, pdf, &mut buf);
                    reports += 1;
                    (name.as_str(), hex::encode(Sha256::digest(pdf)))
                }
                None => ("", String::new()),
            };
            csv_row(&[&row.line.to_string(), &job, file, &sha, row.status, &row.error], &mut csv);
            rows += 1;
            if buf.len() >= PART_BYTES {
                hash.update(&buf);
                size += buf.len() as u64;
                let n = parts.len() as i32 + 1;
                let etag = store.archive_part(id, &upload, n, std::mem::take(&mut buf)).await?;
                parts.push((n, etag));
                buf.reserve(PART_BYTES + (1 << 20));
            }
        }
        zip.add("manifest.csv", &csv, &mut buf);
        drop(csv);
        zip.finish(&mut buf);
        hash.update(&buf);
        size += buf.len() as u64;
        let n = parts.len() as i32 + 1;
        let etag = store.archive_part(id, &upload, n, std::mem::take(&mut buf)).await?;
        parts.push((n, etag));
        store.finish_archive(id, &upload, parts).await?;
        Ok::<_, StoreError>((reports, rows, size, hex::encode(hash.finalize())))
    }
    .await;
    let (reports, rows, size, sha256) = match written {
        Ok(w) => w,
        Err(e) => {
            // The parts would otherwise be kept (and billed) until the bucket's lifecycle
            // rule aborts the upload.
            if let Err(abort) = store.abort_archive(id, &upload).await {
                tracing::warn!(batch_id = %id, error = %abort, "aborting the archive's upload failed");
            }
            return Err(e.into());
        }
    };
    let built = Archive {
        state: ArchiveState::Ready,
        requested_at: msg.requested_at,
        partial,
        reports,
        rows,
        size,
        sha256: Some(sha256),
        built_at: Some(now_epoch()),
        error: None,
    };
    match records.put(id, &built, version.as_deref()).await? {
        Put::Written(_) => {
            tracing::info!(batch_id = %id, reports, rows, size, partial, "archive built");
            Ok(BuildOutcome::Built(built))
        }
        Put::Conflict => Ok(BuildOutcome::Superseded),
    }
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
