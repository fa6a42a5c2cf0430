//! A batch's archive: one ZIP of every finished report plus a `manifest.csv` (line, job id,
//! file name, sha256, status, error), built by the worker side on request
//! (`POST /v1/batches/{id}/archive`) and kept beside the batch (`batches/{id}.zip`).
//!
//! Invariants:
//! - the record (`batches/{id}.archive.json`) says what was asked and what was built: a
//!   builder writes `ready` only over the version it started from, so a newer request is never
//!   answered by an older build;
//! - an archive built before its batch was done is `partial` (it holds the reports finished
//!   then, and `manifest.csv` says what the others were doing);
//! - building is safe to repeat: the ZIP is written by one multipart upload that replaces the
//!   object only when complete, and the same jobs give the same bytes.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveState {
    Building,
    Ready,
    Failed,
}

impl ArchiveState {
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveState::Building => "building",
            ArchiveState::Ready => "ready",
            ArchiveState::Failed => "failed",
        }
    }
}

/// `batches/{id}.archive.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archive {
    pub state: ArchiveState,
    /// When it was asked for (seconds since 1970): which request a build answers.
    pub requested_at: i64,
    /// Built while the batch still had jobs to finish.
    #[serde(default)]
    pub partial: bool,
    /// PDFs in the ZIP, and rows of `manifest.csv` (one a line or job).
    #[serde(default)]
    pub reports: u32,
    #[serde(default)]
    pub rows: u32,
    /// The ZIP's size and SHA-256.
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Archive {
    pub fn requested(now: i64) -> Self {
        Archive {
            state: ArchiveState::Building,
            requested_at: now,
            partial: false,
            reports: 0,
            rows: 0,
            size: 0,
            sha256: None,
            built_at: None,
            error: None,
        }
    }
}

/// Where an unfinished build stopped (`batches/{id}.archive-build.json`): its upload, the
/// parts so far and the row to go on from. The ZIP's central directory, the CSV so far and
/// the bytes not yet in a part are saved beside it, under `checkpoint`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveResume {
    pub requested_at: i64,
    pub upload: String,
    pub parts: Vec<(i32, String)>,
    /// Rows in the archive (fixed when the build began) and the next one to write.
    pub rows: u32,
    pub next_row: u32,
    pub partial: bool,
    pub reports: u32,
    /// Bytes in the parts uploaded so far.
    pub size: u64,
    pub zip_offset: u64,
    pub zip_entries: u64,
    pub checkpoint: String,
}

/// One row of `manifest.csv`, RFC 4180 (fields quoted when they hold a comma, quote or line
/// break), ending in CRLF.
pub fn csv_row(fields: &[&str], out: &mut Vec<u8>) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push(b'"');
            out.extend_from_slice(f.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(f.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The columns of `manifest.csv`.
pub const CSV_HEADER: [&str; 6] = ["line", "job_id", "file", "sha256", "status", "error"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_quote_what_needs_it() {
        let mut out = Vec::new();
        csv_row(&["1", "plain", "a \"b\", c\nd"], &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "1,plain,\"a \"\"b\"\", c\nd\"\r\n");
    }
}
