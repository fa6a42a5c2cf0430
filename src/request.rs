//! The one request format every entry point takes (CLI, API, queue):
//! `{"template": "<name>", "params": {...}, "pdf": {...}?}`, parsed into typed, validated
//! parameters before anything is rendered, stored or sent.

use serde::{Deserialize, Serialize};

use crate::template::{self, Params};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    template: String,
    params: serde_json::Value,
    #[serde(default)]
    pdf: PdfOptions,
}

/// A parsed and validated report request.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub params: Params,
    pub pdf: PdfOptions,
}

impl ReportRequest {
    pub fn template_name(&self) -> &'static str {
        self.params.template_name()
    }

    /// Parses and validates request JSON bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ParamError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let raw: Raw = serde_path_to_error::deserialize(&mut de).map_err(|e| json_error("", e))?;
        de.end().map_err(|e| ParamError::new("", format!("trailing characters after the JSON value: {e}")))?;
        Self::from_parts(&raw.template, raw.params, raw.pdf)
    }

    /// Validates a request already parsed as JSON (the API has the value in hand).
    pub fn from_value(value: serde_json::Value) -> Result<Self, ParamError> {
        let raw: Raw = serde_path_to_error::deserialize(value).map_err(|e| json_error("", e))?;
        Self::from_parts(&raw.template, raw.params, raw.pdf)
    }

    fn from_parts(template: &str, params: serde_json::Value, pdf: PdfOptions) -> Result<Self, ParamError> {
        let params = template::parse_params(template, params)?;
        Ok(Self { params, pdf })
    }
}

/// Maps a serde error with its path to a [`ParamError`], the path prefixed with `prefix`.
pub(crate) fn json_error<E: std::fmt::Display>(prefix: &str, e: serde_path_to_error::Error<E>) -> ParamError {
    let path = e.path().to_string();
    let field = match (prefix.is_empty(), path.as_str()) {
        (true, ".") => String::new(),
        (true, p) => p.to_string(),
        (false, ".") => prefix.to_string(),
        (false, p) if p.starts_with('[') => format!("{prefix}{p}"),
        (false, p) => format!("{prefix}.{p}"),
    };
    let msg = e.inner().to_string();
    // serde_json appends " at line L column C": keep it, it helps with hand-written files.
    ParamError::new(field, msg)
}
