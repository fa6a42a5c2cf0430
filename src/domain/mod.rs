//! The service's types and rules, without I/O: what a request is, what a DiAGRAM model is,
//! what a job is and how it may move. Everything else (HTTP, S3, SQS, TeX) is built on these.

pub mod access;
pub mod archive;
pub mod confinement;
pub mod diagram;
pub mod job;
pub mod manifest;
pub mod trace;
pub mod webhook;

use serde::{Deserialize, Serialize};

/// A request that failed validation: `field` is a path into the request JSON
/// (`params.models[0].response.Checksum`), `message` says what is wrong in words a caller can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[error("{field}: {message}")]
pub struct ParamError {
    pub field: String,
    pub message: String,
}

impl ParamError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Maps a serde error with its path to a [`ParamError`], the path prefixed with `prefix`.
pub fn json_error<E: std::fmt::Display>(prefix: &str, e: serde_path_to_error::Error<E>) -> ParamError {
    let path = e.path().to_string();
    let path = if path == "." { "" } else { path.as_str() };
    // serde_json appends " at line L column C": kept, it helps with hand-written files.
    ParamError::new(diagram::join(prefix, path), e.inner().to_string())
}

/// PDF output options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PdfOptions {
    #[serde(default)]
    pub standard: PdfStandard,
}

/// Which PDF flavour to write. The default is tagged and accessible (PDF/A-2a and PDF/UA-1
/// at once): reports are filed by archivists and read by people with screen readers. The
/// untagged PDF/A flavours (LaTeX's PDF management without tagging; pdfx for PDF/A-1b) and plain PDF stay selectable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum PdfStandard {
    /// PDF/A-2a and PDF/UA-1: a structure tree (headings, paragraphs, tables, figures with
    /// alternative text), artifacts for decorations, XMP naming both standards.
    #[default]
    #[serde(rename = "a-2a")]
    A2a,
    #[serde(rename = "a-2b")]
    A2b,
    /// Tagged as `a-2a` is, as PDF/A-3a: the request and a provenance record embedded as
    /// associated files ([`crate::provenance`]).
    #[serde(rename = "a-3a")]
    A3a,
    /// PDF/A-3b (untagged), carrying the request and provenance as `a-3a` does.
    #[serde(rename = "a-3b")]
    A3b,
    #[serde(rename = "a-1b")]
    A1b,
    #[serde(rename = "none")]
    None,
}

impl PdfStandard {
    pub const ALL: [PdfStandard; 6] = [PdfStandard::A2a, PdfStandard::A2b, PdfStandard::A3a, PdfStandard::A3b, PdfStandard::A1b, PdfStandard::None];

    /// The name requests use (`"pdf": {"standard": ...}`).
    pub fn as_str(self) -> &'static str {
        match self {
            PdfStandard::A2a => "a-2a",
            PdfStandard::A2b => "a-2b",
            PdfStandard::A3a => "a-3a",
            PdfStandard::A3b => "a-3b",
            PdfStandard::A1b => "a-1b",
            PdfStandard::None => "none",
        }
    }

    /// The option name pdfx takes, if any: PDF/A-1b only, which LaTeX's PDF management (2022)
    /// does not write.
    pub fn pdfx_option(self) -> Option<&'static str> {
        match self {
            PdfStandard::A1b => Some("a-1b"),
            _ => None,
        }
    }

    /// Whether the document is tagged (LaTeX's `\DocumentMetadata` and reportq's own tagging,
    /// [`crate::tagging`]; not pdfx).
    pub fn tagged(self) -> bool {
        matches!(self, PdfStandard::A2a | PdfStandard::A3a)
    }

    /// The PDF/A part LaTeX's `\DocumentMetadata` writes (XMP packet, output intent): every
    /// PDF/A flavour but PDF/A-1b (pdfx's). Untagged ones through it too, so that their
    /// preamble can be dumped into a format as the tagged ones' is.
    pub fn metadata_pdfa(self) -> Option<&'static str> {
        match self {
            PdfStandard::A2a => Some("A-2a"),
            PdfStandard::A3a => Some("A-3a"),
            PdfStandard::A2b => Some("A-2b"),
            PdfStandard::A3b => Some("A-3b"),
            PdfStandard::A1b | PdfStandard::None => None,
        }
    }

    /// Whether the PDF carries its request and provenance (PDF/A-3's associated files).
    pub fn carries_provenance(self) -> bool {
        matches!(self, PdfStandard::A3a | PdfStandard::A3b)
    }
}

/// Seconds since 1970, now.
pub fn now_epoch() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A calendar date, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    /// Seconds since the Unix epoch: the PDF's creation time.
    pub epoch: i64,
}

impl Date {
    pub fn from_epoch(epoch: i64) -> Self {
        // Civil-from-days (Howard Hinnant's algorithm): avoids a date crate for one conversion.
        let days = epoch.div_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Self { year, month, day, epoch }
    }

    pub fn now() -> Self {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        Self::from_epoch(secs)
    }

    /// dd/mm/yyyy, as DiAGRAM's reports showed it.
    pub fn dmy(&self) -> String {
        format!("{:02}/{:02}/{:04}", self.day, self.month, self.year)
    }

    pub fn iso(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::Date;

    #[test]
    fn dates() {
        let d = Date::from_epoch(0);
        assert_eq!((d.year, d.month, d.day), (1970, 1, 1));
        let d = Date::from_epoch(1_795_000_000); // 2026-11-18
        assert_eq!(d.iso(), "2026-11-18");
        assert_eq!(Date::from_epoch(951_782_400).dmy(), "29/02/2000");
    }
}
