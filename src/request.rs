//! The one request format every entry point takes (CLI, API, queue):
//! `{"template": "<name>", "params": {...}, "pdf": {...}?}`, parsed into typed, validated
//! parameters before anything is rendered, stored or sent.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::json_error;
pub use crate::domain::{ParamError, PdfOptions, PdfStandard};
use crate::scoring::Scorer;
use crate::template::{self, Params};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    template: String,
    params: Value,
    #[serde(default)]
    pdf: RawPdf,
}

/// `pdf` as sent: the standard may be left to reportq.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPdf {
    standard: Option<crate::domain::PdfStandard>,
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

    /// Parses and validates request JSON bytes (no network: DiAGRAM scores must be given).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ParamError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value: Value = serde_path_to_error::deserialize(&mut de).map_err(|e| json_error("", e))?;
        de.end().map_err(|e| ParamError::new("", format!("trailing characters after the JSON value: {e}")))?;
        Self::parse(&value, None)
    }

    /// Validates a request already parsed as JSON, without a network.
    pub fn from_value(value: Value) -> Result<Self, ParamError> {
        Self::parse(&value, None)
    }

    /// Validates a request. With a DiAGRAM network, models are also checked against it and
    /// missing scores are computed (what the API and worker do when one is configured).
    pub fn parse(value: &Value, scorer: Option<&Scorer>) -> Result<Self, ParamError> {
        let raw: Raw = serde_path_to_error::deserialize(value).map_err(|e| json_error("", e))?;
        let params = template::parse_params(&raw.template, &raw.params, scorer)?;
        // Tagged by default at every size (src/tagging.rs: one TeX pass, the tree built in Rust).
        let standard = raw.pdf.standard.unwrap_or(crate::domain::PdfStandard::A2a);
        Ok(Self { params, pdf: PdfOptions { standard } })
    }

    /// The request as it is stored for the worker: `value` with whatever validation computed
    /// written in (a DiAGRAM model's missing scores), so the worker needs no network for it.
    pub fn normalise(&self, value: &mut Value) {
        if let (Params::Diagram(p), Some(models)) = (&self.params, value.pointer_mut("/params/models").and_then(Value::as_array_mut)) {
            for (m, v) in p.models.models.iter().zip(models) {
                if let Some(o) = v.as_object_mut() {
                    o.insert("intellectual_control".into(), m.intellectual_control.into());
                    o.insert("renderability".into(), m.renderability.into());
                }
            }
        }
    }
}
