//! Bulk runs from a manifest: a JSONL file (one report request a line) uploaded to S3 and
//! fanned out to the bulk queue by the worker side, a chunk of [`CHUNK_LINES`] lines at a time.
//!
//! Invariants:
//! - line `n` (0-based) becomes the job [`item_id`](super::job::item_id)`(batch, n)`, stored in
//!   item chunk `n / 100`: a chunk fanned out again makes the same jobs, never new ones;
//! - the [`Cursor`] is the one record of progress, written conditionally (If-Match) after
//!   each chunk's jobs, errors and messages: a process that dies resumes at the last chunk
//!   it recorded, and only one process at a time holds the lease to advance it;
//! - an invalid line fails that line only (its 1-based number, field and message in
//!   `errors.jsonl`); the other lines go on.

use serde::{Deserialize, Serialize};

/// The most lines a manifest may hold.
pub const MAX_LINES: u32 = 100_000;
/// The largest manifest accepted (bytes): 2.6 KB a line on average at 100,000 lines.
pub const MAX_BYTES: u64 = 256 << 20;
/// The longest line: as large as one `POST /v1/reports` body.
pub const MAX_LINE_BYTES: u64 = 256 << 10;
/// Lines per fan-out step: one item chunk of the store (`store::items::CHUNK`, which is this).
pub const CHUNK_LINES: u32 = 100;

/// What a manifest batch was created with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Lines declared (and charged) at creation; a longer file's extra lines fail.
    pub lines: u32,
}

/// How far the fan-out has got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The next line to read (0-based) and where it starts in the file.
    pub next_line: u32,
    pub offset: u64,
    /// Lines that became jobs, and lines that failed.
    pub valid: u32,
    pub invalid: u32,
    /// Every line read: `errors.jsonl` is written.
    pub done: bool,
    /// Lines of each chunk read so far that became jobs: what tells a poll when a chunk's
    /// jobs are all final ([`Settled`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub valid_per_chunk: Vec<u16>,
    /// Who is fanning out, until when (seconds since 1970).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<(String, i64)>,
}

impl Cursor {
    /// Whether someone other than `me` holds an unexpired lease at `now`.
    pub fn held_by_other(&self, me: &str, now: i64) -> bool {
        self.lease.as_ref().is_some_and(|(who, until)| who != me && *until > now)
    }
}

/// The chunks at the start of a manifest batch whose every job is final, and their counts:
/// kept (`batches/{id}.progress.json`) so that a poll lists only the markers of the chunks
/// after them, not every marker of a 100,000-job batch. Final statuses never change, so a
/// settled chunk's counts hold for good.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    pub chunks: u32,
    pub succeeded: u32,
    pub failed: u32,
}

/// One invalid line, as written to `errors.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// 1-based, as editors count.
    pub line: u32,
    pub field: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_binds_others_until_it_expires() {
        let c = Cursor { lease: Some(("a".into(), 100)), ..Cursor::default() };
        assert!(c.held_by_other("b", 99));
        assert!(!c.held_by_other("a", 99));
        assert!(!c.held_by_other("b", 100));
        assert!(!Cursor::default().held_by_other("b", 0));
    }
}
