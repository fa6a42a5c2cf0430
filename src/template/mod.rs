//! Report templates: typed parameters, the LaTeX they become, their chart and CSV.
//!
//! Each template has a folder under `templates/` (compiled into the binary, so a Lambda image
//! needs no template files) and a module here with its parameter types. Templates are
//! minijinja with LaTeX-friendly delimiters (`<< value >>`, `<% tag %>`, `<# comment #>`), and
//! every `<< value >>` is escaped for LaTeX by the engine itself: a template author cannot
//! forget to escape user text.

pub mod diagram;
mod engine;
pub mod summary;

use serde::Serialize;

use crate::domain::{ParamError, PdfStandard};

pub use engine::{render_tex, source_sha256};

/// Why a document could not be made from validated parameters.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("invalid request: {0}")]
    Params(#[from] ParamError),
    #[error("the template failed: {0}")]
    Template(String),
    #[error("drawing a chart failed: {0}")]
    Chart(String),
}

/// Validated parameters of one of the templates.
#[derive(Debug, Clone)]
pub enum Params {
    Diagram(diagram::DiagramParams),
    Summary(summary::SummaryParams),
}

impl Params {
    pub fn template_name(&self) -> &'static str {
        match self {
            Params::Diagram(_) => "diagram",
            Params::Summary(_) => "summary",
        }
    }
}

/// Parses `params` for the template named `template`.
/// With a DiAGRAM network, `diagram` models are checked against it and missing scores computed.
pub fn parse_params(template: &str, params: &serde_json::Value, scorer: Option<&crate::scoring::Scorer>) -> Result<Params, ParamError> {
    match template {
        "diagram" => diagram::parse(params, scorer).map(Params::Diagram),
        "summary" => summary::parse(params).map(Params::Summary),
        other => Err(ParamError::new("template", format!("unknown template {other:?}; known templates: {}", names().join(", ")))),
    }
}

/// A template's description for `reportq templates` and the API docs.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub params: &'static [ParamDoc],
}

#[derive(Debug, Clone, Serialize)]
pub struct ParamDoc {
    pub name: &'static str,
    pub kind: &'static str,
    pub required: bool,
    pub description: &'static str,
}

pub fn all() -> Vec<TemplateInfo> {
    vec![diagram::info(), summary::info()]
}

/// A template's parameters as a JSON Schema (draft 07): what `GET /v1/templates` lists and
/// `/openapi.json` uses for `params`. The server's own checks are the rules; the schema gives
/// their shape (a test holds the two to the same fields and limits).
pub fn schema(name: &str) -> Option<serde_json::Value> {
    let text = match name {
        "diagram" => include_str!("../../templates/diagram/schema.json"),
        "summary" => include_str!("../../templates/summary/schema.json"),
        _ => return None,
    };
    Some(serde_json::from_str(text).expect("the template schemas are JSON"))
}

/// A whole example request for a template (the files in `examples/`).
pub fn example(name: &str) -> Option<serde_json::Value> {
    let text = match name {
        "diagram" => include_str!("../../examples/diagram.json"),
        "summary" => include_str!("../../examples/summary.json"),
        _ => return None,
    };
    Some(serde_json::from_str(text).expect("the examples are JSON"))
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|t| t.name).collect()
}

/// Document metadata: goes into the PDF's info dictionary and XMP packet.
#[derive(Debug, Clone, Serialize)]
pub struct DocMeta {
    pub title: String,
    pub author: String,
    pub subject: String,
    pub keywords: Vec<String>,
    /// BCP 47 language tag.
    pub language: String,
}

/// Everything the TeX run needs, made from validated parameters: the document, the files it
/// includes (charts), and the report's data for the CSV output.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub tex: String,
    /// Files the document includes by name, written to the job dir.
    pub assets: Vec<(String, Vec<u8>)>,
    pub meta: DocMeta,
}

/// Per-render context that does not come from the request's params.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// The report's date (the job's creation time): shown in the footer and written as the
    /// PDF's creation date, so a retried job renders the same bytes.
    pub date: Date,
    pub pdf: PdfStandard,
    /// The DiAGRAM network, when one is configured: the `diagram` report then gains a
    /// "Where to improve first" section.
    pub scorer: Option<std::sync::Arc<crate::scoring::Scorer>>,
    /// Whom the render is for: an interactive render gets a slot of its own beyond the
    /// renderer's limit and runs at normal CPU priority; bulk renders run niced. Not part of
    /// the output.
    pub lane: crate::domain::job::Lane,
    /// The request as it came to be rendered and the job it belongs to: what an `a-3a`/`a-3b`
    /// report embeds ([`crate::provenance`]). Not part of TeX's input.
    pub source: Option<Source>,
}

/// A render's request value and job, for its provenance.
#[derive(Debug, Clone)]
pub struct Source {
    pub request: std::sync::Arc<serde_json::Value>,
    pub job_id: Option<uuid::Uuid>,
}

impl RenderContext {
    pub fn new(date: Date, pdf: PdfStandard) -> Self {
        Self { date, pdf, scorer: None, lane: crate::domain::job::Lane::Interactive, source: None }
    }

    /// The request value the report was parsed from, and its job: embedded in `a-3` reports.
    pub fn with_source(mut self, request: serde_json::Value, job_id: Option<uuid::Uuid>) -> Self {
        self.source = Some(Source { request: std::sync::Arc::new(request), job_id });
        self
    }

    pub fn with_lane(mut self, lane: crate::domain::job::Lane) -> Self {
        self.lane = lane;
        self
    }

    pub fn with_scorer(mut self, scorer: Option<std::sync::Arc<crate::scoring::Scorer>>) -> Self {
        self.scorer = scorer;
        self
    }
}

pub use crate::domain::Date;

/// The `doc` value every template passes to `base.tex`: metadata, date, page orientation and
/// the PDF standard. Strings built here from fixed words are marked safe; the metadata is
/// user text and is escaped like everything else.
pub(crate) fn engine_doc(meta: &DocMeta, ctx: &RenderContext, landscape: bool) -> minijinja::Value {
    use minijinja::Value;
    minijinja::context! {
        title => meta.title,
        author => meta.author,
        subject => meta.subject,
        keywords => meta.keywords,
        language => Value::from_safe_string(meta.language.clone()),
        date => Value::from_safe_string(ctx.date.dmy()),
        landscape => landscape,
        pdfx => ctx.pdf.pdfx_option().map(|s| Value::from_safe_string(s.to_string())),
        tagged => ctx.pdf.tagged(),
        pdfa => ctx.pdf.metadata_pdfa().map(|s| Value::from_safe_string(s.to_string())),
        // The job's date as a PDF date: every date in a tagged file's XMP is this one.
        pdfdate => Value::from_safe_string(pdf_date(ctx.date.epoch)),
    }
}

/// `D:YYYYMMDDhhmmssZ` for seconds since 1970.
pub(crate) fn pdf_date(epoch: i64) -> String {
    let d = Date::from_epoch(epoch);
    let s = epoch.rem_euclid(86_400);
    format!("D:{:04}{:02}{:02}{:02}{:02}{:02}Z", d.year, d.month, d.day, s / 3600, s / 60 % 60, s % 60)
}

/// pdfx's metadata file (`doc.xmpdata`, read by `\usepackage[a-2b]{pdfx}`). pdfx reads it
/// with its own rules: every printable character stands for itself except `% { } \`, which
/// have escapes; only the Basic Multilingual Plane is allowed, and no blank lines.
pub fn xmpdata(meta: &DocMeta, _ctx: &RenderContext) -> String {
    fn esc(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut space = false;
        let mut after_macro = false;
        for c in s.chars() {
            if c.is_whitespace() || c.is_control() {
                // Folded to one space; control characters dropped like in the body.
                if c.is_whitespace() && !space && !out.is_empty() {
                    // TeX swallows spaces after a control word: keep this one explicitly.
                    out.push_str(if after_macro { "\\ " } else { " " });
                    space = true;
                    after_macro = false;
                }
                continue;
            }
            space = false;
            after_macro = false;
            match c {
                '%' => out.push_str("\\%"),
                '{' => out.push_str("\\{"),
                '}' => out.push_str("\\}"),
                // The space ends the control word and is not printed.
                '\\' => {
                    out.push_str("\\backslash ");
                    after_macro = true;
                }
                c if (c as u32) > 0xFFFF => {}
                c => out.push(c),
            }
        }
        out.trim_end().to_string()
    }
    let keywords: Vec<String> = meta.keywords.iter().map(|k| esc(k)).collect();
    format!(
        "\\Title{{{}}}\n\\Author{{{}}}\n\\Subject{{{}}}\n\\Keywords{{{}}}\n\\Language{{{}}}\n\\Publisher{{reportq}}\n",
        esc(&meta.title),
        esc(&meta.author),
        esc(&meta.subject),
        keywords.join("\\sep "),
        esc(&meta.language),
    )
}

/// Builds the document for validated parameters.
pub fn prepare(params: &Params, ctx: &RenderContext) -> Result<Prepared, TemplateError> {
    match params {
        Params::Diagram(p) => diagram::prepare(p, ctx),
        Params::Summary(p) => summary::prepare(p, ctx),
    }
}

/// The report's data as CSV (RFC 4180).
pub fn csv(params: &Params) -> String {
    match params {
        Params::Diagram(p) => diagram::csv(p),
        Params::Summary(p) => summary::csv(p),
    }
}

/// The report's main chart alone, as PNG.
pub fn chart_png(params: &Params) -> Result<Vec<u8>, crate::chart::ChartError> {
    match params {
        Params::Diagram(p) => diagram::chart_png(p),
        Params::Summary(p) => summary::chart_png(p),
    }
}

/// Checks a string parameter's length (in characters) and returns it trimmed of nothing: the
/// text is the caller's, escaping happens in the engine.
pub(crate) fn check_len(field: &str, s: &str, max: usize) -> Result<(), ParamError> {
    let n = s.chars().count();
    if n > max {
        return Err(ParamError::new(field, format!("is {n} characters long; at most {max} are allowed")));
    }
    Ok(())
}

pub(crate) fn check_nonempty(field: &str, s: &str) -> Result<(), ParamError> {
    if s.trim().is_empty() {
        return Err(ParamError::new(field, "must not be empty"));
    }
    Ok(())
}

pub(crate) fn check_range(field: &str, x: f64, lo: f64, hi: f64) -> Result<(), ParamError> {
    if !x.is_finite() || x < lo || x > hi {
        return Err(ParamError::new(field, format!("is {x}; it must be a number from {lo} to {hi}")));
    }
    Ok(())
}
