//! The service's types and rules, without I/O: what a request is, what a DiAGRAM model is,
//! what a job is and how it may move. Everything else (HTTP, S3, SQS, TeX) is built on these.

pub mod diagram;
pub mod job;

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

/// Which PDF flavour to write. PDF/A-2b is the default: reports are filed by archivists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum PdfStandard {
    #[default]
    #[serde(rename = "a-2b")]
    A2b,
    #[serde(rename = "a-3b")]
    A3b,
    #[serde(rename = "a-1b")]
    A1b,
    #[serde(rename = "none")]
    None,
}

impl PdfStandard {
    /// The option name pdfx takes, if any.
    pub fn pdfx_option(self) -> Option<&'static str> {
        match self {
            PdfStandard::A2b => Some("a-2b"),
            PdfStandard::A3b => Some("a-3b"),
            PdfStandard::A1b => Some("a-1b"),
            PdfStandard::None => None,
        }
    }
}

/// Seconds since 1970, now.
pub fn now_epoch() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
