//! The worker side of a bulk run from a manifest ([`crate::domain::manifest`]): reads the
//! uploaded JSONL a chunk of lines at a time, validates each line with the rules of
//! `POST /v1/reports`, stores the chunk's jobs ([`JobStore::create_items`]), writes its invalid
//! lines, sends its messages and records the cursor, then takes the next chunk.
//!
//! - Every step is safe to repeat: a chunk's jobs have fixed ids and its records are
//!   create-only, so a chunk read again (the process died before its cursor was written)
//!   makes no new job. Its messages may then go out a second time; a duplicate message is
//!   dropped at the claim, as every duplicate is.
//! - One process fans a batch out at a time: the cursor carries a lease, written with
//!   If-Match; a process that loses the cursor to another stops.
//! - Admission control as the API's: a chunk is sent only while the bulk queue's backlog
//!   leaves room for it; otherwise the run pauses and asks to be woken later
//!   ([`FanoutOutcome::Paused`]) instead of holding a worker.
//! - Bounded memory: one chunk of lines (at most 100 lines of at most 256 KiB) at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::job::{Job, item_id};
use crate::domain::manifest::{CHUNK_LINES, Cursor, LineError, MAX_LINE_BYTES};
use crate::domain::now_epoch;
use crate::queue::{JobMessage, JobQueue, QueueError};
use crate::request::ReportRequest;
use crate::scoring::Scorer;
use crate::store::{FanoutRecords, JobStore, Put, StoreError};

/// How long a fan-out's lease lasts past its last chunk, unless set otherwise: a process
/// that dies holding it delays the next one by at most this.
pub const LEASE: Duration = Duration::from_secs(60);

/// The body of the message that starts (or resumes) a fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutMessage {
    pub fanout: Uuid,
}

impl FanoutMessage {
    /// Reads a queue message's body: `None` for anything else (a job message).
    pub fn parse(body: &str) -> Option<Self> {
        if !body.contains("\"fanout\"") {
            return None;
        }
        serde_json::from_str(body).ok()
    }

    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("serialises")
    }
}

/// How a fan-out call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanoutOutcome {
    /// Every line read; `errors.jsonl` written.
    Done(Cursor),
    /// Stopped at its time budget or because the backlog is full; a message to resume
    /// (after `Duration`) was sent.
    Paused(Cursor, Duration),
    /// Another process holds the lease (or took the cursor): nothing done here.
    Busy,
}

#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the batch's webhook could not be queued: {0}")]
    Notify(String),
    #[error("no manifest batch {0} (or its manifest was never uploaded)")]
    NoSuchManifest(Uuid),
}

/// What fans manifests out: the store, the bulk lane, the network the requests are checked
/// against, and the backlog above which it pauses.
#[derive(Clone, Debug)]
pub struct Fanout {
    pub store: Arc<dyn JobStore>,
    pub queue: Arc<dyn JobQueue>,
    pub scorer: Option<Arc<Scorer>>,
    /// Who holds the lease (host:pid or the Lambda log stream).
    pub me: String,
    pub max_backlog: u64,
    /// Asks for `batch.completed` once every line is read: the batch's last job may have
    /// ended before that, when the batch was not yet done.
    pub notifier: Option<crate::webhook::Notifier>,
    /// [`LEASE`]; shorter in tests that kill fan-outs.
    pub lease: Duration,
}

/// The lines of one chunk: each line's bytes (the last may lack its newline) and where the
/// next chunk starts.
struct Lines {
    lines: Vec<Vec<u8>>,
    next_offset: u64,
}

impl Fanout {
    /// Fans `batch` out until every line is read or `budget` is spent.
    pub async fn run(&self, batch: Uuid, budget: Duration) -> Result<FanoutOutcome, FanoutError> {
        let started = Instant::now();
        let record = self.store.batch(batch).await?.filter(|b| b.manifest.is_some()).ok_or(FanoutError::NoSuchManifest(batch))?;
        let declared = record.manifest.as_ref().map_or(0, |m| m.lines);
        let size = self.store.manifest_size(batch).await?.ok_or(FanoutError::NoSuchManifest(batch))?;
        let records = FanoutRecords(self.store.as_ref());
        let (mut cursor, mut version) = match records.cursor(batch).await? {
            Some((c, v)) => (c, Some(v)),
            None => (Cursor::default(), None),
        };
        loop {
            if cursor.done {
                return Ok(FanoutOutcome::Done(cursor));
            }
            if cursor.held_by_other(&self.me, now_epoch()) {
                return Ok(FanoutOutcome::Busy);
            }
            if cursor.offset >= size {
                records.join_errors(batch).await?;
                let done = Cursor { done: true, lease: None, ..cursor.clone() };
                return match records.put_cursor(batch, &done, version.as_deref()).await? {
                    Put::Written(_) => {
                        tracing::info!(batch_id = %batch, valid = done.valid, invalid = done.invalid, "manifest fanned out");
                        if let (Some(n), Some(_)) = (&self.notifier, &record.callback) {
                            n.batch_progress(batch).await.map_err(|e| FanoutError::Notify(e.to_string()))?;
                        }
                        Ok(FanoutOutcome::Done(done))
                    }
                    Put::Conflict => Ok(FanoutOutcome::Busy),
                };
            }
            let full = self.queue.depth().await? + u64::from(CHUNK_LINES) > self.max_backlog;
            if full || started.elapsed() >= budget {
                // Wake up later (the backlog drains meanwhile), and let the lease go.
                let wait = if full { Duration::from_secs(30) } else { Duration::ZERO };
                self.queue.send_raw(&FanoutMessage { fanout: batch }.body(), wait).await?;
                let paused = Cursor { lease: None, ..cursor.clone() };
                records.put_cursor(batch, &paused, version.as_deref()).await?;
                tracing::info!(batch_id = %batch, next_line = paused.next_line, backlog_full = full, "fan-out paused");
                return Ok(FanoutOutcome::Paused(paused, wait));
            }
            // Take (or extend) the lease before the chunk's writes.
            let leased = Cursor { lease: Some((self.me.clone(), now_epoch() + self.lease.as_secs().max(1) as i64)), ..cursor.clone() };
            match records.put_cursor(batch, &leased, version.as_deref()).await? {
                Put::Written(v) => version = Some(v),
                Put::Conflict => return Ok(FanoutOutcome::Busy),
            }
            let chunk = self.read_chunk(batch, leased.offset, size).await?;
            let (jobs, errors) = self.check_lines(&record, declared, leased.next_line, &chunk.lines);
            let chunk_no = leased.next_line / CHUNK_LINES;
            self.store.create_items(&jobs).await?;
            if !errors.is_empty() {
                let mut jsonl = Vec::new();
                for e in &errors {
                    serde_json::to_writer(&mut jsonl, e).expect("serialises");
                    jsonl.push(b'\n');
                }
                records.put_errors_part(batch, chunk_no, jsonl).await?;
            }
            let messages: Vec<JobMessage> = jobs.iter().map(|j| JobMessage::bulk(j.id)).collect();
            self.queue.send_all(&messages).await?;
            let mut valid_per_chunk = leased.valid_per_chunk.clone();
            valid_per_chunk.truncate(chunk_no as usize);
            valid_per_chunk.push(jobs.len() as u16);
            let next = Cursor {
                valid_per_chunk,
                next_line: leased.next_line + chunk.lines.len() as u32,
                offset: chunk.next_offset,
                valid: leased.valid + jobs.len() as u32,
                invalid: leased.invalid + errors.len() as u32,
                done: false,
                lease: leased.lease.clone(),
            };
            match records.put_cursor(batch, &next, version.as_deref()).await? {
                Put::Written(v) => version = Some(v),
                // Our lease ran out and another process took over: it redoes this chunk
                // (same jobs; its messages may go twice).
                Put::Conflict => return Ok(FanoutOutcome::Busy),
            }
            crate::metrics::count("ManifestLines", &[], chunk.lines.len() as f64);
            cursor = next;
        }
    }

    /// Up to [`CHUNK_LINES`] lines from `offset`: reads 1 MiB, more if the lines are long.
    async fn read_chunk(&self, batch: Uuid, offset: u64, size: u64) -> Result<Lines, FanoutError> {
        let mut want: u64 = 1 << 20;
        let most = u64::from(CHUNK_LINES) * (MAX_LINE_BYTES + 1);
        loop {
            let len = want.min(size - offset);
            let bytes = self.store.manifest_range(batch, offset, len).await?;
            let at_end = offset + bytes.len() as u64 >= size;
            let mut lines = Vec::new();
            let mut start = 0usize;
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'\n' {
                    lines.push(bytes[start..i].to_vec());
                    start = i + 1;
                    if lines.len() == CHUNK_LINES as usize {
                        break;
                    }
                }
            }
            if lines.len() < CHUNK_LINES as usize && at_end && start < bytes.len() {
                // The last line, without its newline.
                lines.push(bytes[start..].to_vec());
                start = bytes.len();
            }
            if lines.len() == CHUNK_LINES as usize || at_end || want >= most {
                if lines.is_empty() {
                    // One line longer than anything allowed: take it whole as a (failing) line.
                    lines.push(bytes.clone());
                    start = bytes.len();
                }
                return Ok(Lines { lines, next_offset: offset + start as u64 });
            }
            want *= 2;
        }
    }

    /// The chunk's lines as jobs (ids from [`item_id`]) and errors.
    fn check_lines(&self, batch: &crate::domain::job::Batch, declared: u32, first: u32, lines: &[Vec<u8>]) -> (Vec<Job>, Vec<LineError>) {
        let mut jobs = Vec::new();
        let mut errors = Vec::new();
        for (i, raw) in lines.iter().enumerate() {
            let index = first + i as u32;
            let fail = |field: &str, message: String| LineError { line: index + 1, field: field.to_string(), message };
            match self.check_line(raw, index, declared) {
                Ok((body, request)) => jobs.push(Job {
                    owner: batch.owner.clone(),
                    notify_batch: batch.callback.is_some(),
                    ..Job::new(item_id(batch.id, index), Some(batch.id), request.template_name(), body, batch.created_at_epoch)
                }),
                Err((field, message)) => errors.push(fail(&field, message)),
            }
        }
        (jobs, errors)
    }

    fn check_line(&self, raw: &[u8], index: u32, declared: u32) -> Result<(Value, ReportRequest), (String, String)> {
        if index >= declared {
            return Err(("manifest".into(), format!("the manifest was created for {declared} lines; this is line {}", index + 1)));
        }
        if raw.len() as u64 > MAX_LINE_BYTES {
            return Err(("line".into(), format!("is {} bytes; a line holds at most {MAX_LINE_BYTES}", raw.len())));
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let mut body: Value = serde_json::from_slice(raw).map_err(|e| ("line".to_string(), format!("not JSON: {e}")))?;
        if !body.is_object() {
            return Err(("line".into(), "a line is one request object".into()));
        }
        if body.get("callback").is_some() {
            return Err(("callback".into(), "a manifest line cannot carry its own callback; give the batch one".into()));
        }
        let request = ReportRequest::parse(&body, self.scorer.as_deref()).map_err(|e| (e.field, e.message))?;
        request.normalise(&mut body);
        Ok((body, request))
    }
}
