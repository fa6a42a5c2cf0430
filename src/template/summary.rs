//! The `summary` template: a generic report of sections with paragraphs, tables and charts.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TemplateError;
use super::{DocMeta, ParamDoc, Prepared, RenderContext, TemplateInfo, check_len, check_nonempty};
use crate::chart::{self, ChartKind, SeriesChart};
use crate::domain::{ParamError, json_error};

const MAX_TITLE: usize = 300;
const MAX_SECTIONS: usize = 100;
const MAX_PARAGRAPHS: usize = 200;
const MAX_PARAGRAPH: usize = 20_000;
const MAX_TABLES: usize = 20;
const MAX_ROWS: usize = 2_000;
const MAX_COLS: usize = 12;
const MAX_CELL: usize = 1_000;
const MAX_CHARTS: usize = 10;
const MAX_CATEGORIES: usize = 100;
const MAX_SERIES: usize = 7;

pub fn info() -> TemplateInfo {
    TemplateInfo {
        name: "summary",
        description: "A generic report: title, author, sections of paragraphs, tables with a \
                      header row, and bar or line charts from series data (A4 portrait)",
        params: &[
            ParamDoc { name: "title", kind: "string (1-300 chars)", required: true, description: "the report's title" },
            ParamDoc { name: "author", kind: "string (<= 300 chars)", required: false, description: "shown under the title and in the PDF metadata" },
            ParamDoc { name: "language", kind: "BCP 47 tag, e.g. en-GB", required: false, description: "the document language (default en-GB)" },
            ParamDoc {
                name: "sections",
                kind: "array (1-100) of {heading, paragraphs?, tables?, charts?}",
                required: true,
                description: "paragraphs: array of strings; tables: {caption?, header: [..], rows: [[..]]} \
                              (<= 12 columns); charts: {title, kind: \"bar\"|\"line\", categories: [..], \
                              series: [{name, values: [..]}]} (<= 7 series)",
            },
        ],
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryParams {
    pub title: String,
    #[serde(default)]
    pub author: String,
    #[serde(default = "default_language")]
    pub language: String,
    pub sections: Vec<Section>,
}

fn default_language() -> String {
    "en-GB".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub heading: String,
    #[serde(default)]
    pub paragraphs: Vec<String>,
    #[serde(default)]
    pub tables: Vec<Table>,
    #[serde(default)]
    pub charts: Vec<Chart>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    #[serde(default)]
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    pub title: String,
    pub kind: ChartKind,
    pub categories: Vec<String>,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

fn count(field: &str, n: usize, lo: usize, hi: usize, what: &str) -> Result<(), ParamError> {
    if n < lo || n > hi {
        return Err(ParamError::new(field, format!("holds {n} {what}; from {lo} to {hi} are allowed")));
    }
    Ok(())
}

pub fn parse(params: &Value) -> Result<SummaryParams, ParamError> {
    let p: SummaryParams = serde_path_to_error::deserialize(params).map_err(|e| json_error("params", e))?;
    check_nonempty("params.title", &p.title)?;
    check_len("params.title", &p.title, MAX_TITLE)?;
    check_len("params.author", &p.author, MAX_TITLE)?;
    let lang_ok = (2..=35).contains(&p.language.len())
        && p.language.split('-').all(|s| !s.is_empty() && s.len() <= 8 && s.chars().all(|c| c.is_ascii_alphanumeric()));
    if !lang_ok {
        return Err(ParamError::new("params.language", format!("{:?} is not a language tag such as \"en-GB\"", p.language)));
    }
    count("params.sections", p.sections.len(), 1, MAX_SECTIONS, "sections")?;
    for (i, s) in p.sections.iter().enumerate() {
        let at = format!("params.sections[{i}]");
        check_nonempty(&format!("{at}.heading"), &s.heading)?;
        check_len(&format!("{at}.heading"), &s.heading, MAX_TITLE)?;
        count(&format!("{at}.paragraphs"), s.paragraphs.len(), 0, MAX_PARAGRAPHS, "paragraphs")?;
        for (j, para) in s.paragraphs.iter().enumerate() {
            check_len(&format!("{at}.paragraphs[{j}]"), para, MAX_PARAGRAPH)?;
        }
        count(&format!("{at}.tables"), s.tables.len(), 0, MAX_TABLES, "tables")?;
        for (j, t) in s.tables.iter().enumerate() {
            let at = format!("{at}.tables[{j}]");
            check_len(&format!("{at}.caption"), &t.caption, MAX_TITLE)?;
            count(&format!("{at}.header"), t.header.len(), 1, MAX_COLS, "columns")?;
            count(&format!("{at}.rows"), t.rows.len(), 0, MAX_ROWS, "rows")?;
            for (k, h) in t.header.iter().enumerate() {
                check_len(&format!("{at}.header[{k}]"), h, MAX_CELL)?;
            }
            for (r, row) in t.rows.iter().enumerate() {
                if row.len() != t.header.len() {
                    return Err(ParamError::new(
                        format!("{at}.rows[{r}]"),
                        format!("has {} cells; the header has {} columns", row.len(), t.header.len()),
                    ));
                }
                for (k, cell) in row.iter().enumerate() {
                    check_len(&format!("{at}.rows[{r}][{k}]"), cell, MAX_CELL)?;
                }
            }
        }
        count(&format!("{at}.charts"), s.charts.len(), 0, MAX_CHARTS, "charts")?;
        for (j, c) in s.charts.iter().enumerate() {
            let at = format!("{at}.charts[{j}]");
            // A chart's title names it to a screen reader (its alt text) and a series' name is
            // its legend: neither may be blank, as the schema has always said (minLength 1).
            check_nonempty(&format!("{at}.title"), &c.title)?;
            check_len(&format!("{at}.title"), &c.title, MAX_TITLE)?;
            count(&format!("{at}.categories"), c.categories.len(), 1, MAX_CATEGORIES, "categories")?;
            count(&format!("{at}.series"), c.series.len(), 1, MAX_SERIES, "series")?;
            for (k, cat) in c.categories.iter().enumerate() {
                check_len(&format!("{at}.categories[{k}]"), cat, MAX_TITLE)?;
            }
            for (k, s) in c.series.iter().enumerate() {
                check_nonempty(&format!("{at}.series[{k}].name"), &s.name)?;
                check_len(&format!("{at}.series[{k}].name"), &s.name, MAX_TITLE)?;
                if s.values.len() != c.categories.len() {
                    return Err(ParamError::new(
                        format!("{at}.series[{k}].values"),
                        format!("has {} values; there are {} categories", s.values.len(), c.categories.len()),
                    ));
                }
                for (v, x) in s.values.iter().enumerate() {
                    if !x.is_finite() || x.abs() > 1e15 {
                        return Err(ParamError::new(format!("{at}.series[{k}].values[{v}]"), format!("{x} is out of range (|x| <= 1e15)")));
                    }
                }
            }
        }
    }
    Ok(p)
}

fn series_chart(c: &Chart) -> SeriesChart {
    SeriesChart {
        title: c.title.clone(),
        kind: c.kind,
        categories: c.categories.clone(),
        series: c.series.iter().map(|s| (s.name.clone(), s.values.clone())).collect(),
    }
}

fn alt_text(c: &Chart) -> String {
    let series: Vec<String> = c
        .series
        .iter()
        .map(|s| {
            let pts: Vec<String> = c.categories.iter().zip(&s.values).map(|(k, v)| format!("{k} {v}")).collect();
            format!("{}: {}", s.name, pts.join(", "))
        })
        .collect();
    let kind = match c.kind {
        ChartKind::Bar => "Bar chart",
        ChartKind::Line => "Line chart",
    };
    format!("{kind}: {}. {}.", c.title, series.join("; "))
}

#[derive(Serialize)]
struct ChartView {
    file: String,
    title: String,
    alt: String,
}

#[derive(Serialize)]
struct SectionView<'a> {
    heading: &'a str,
    paragraphs: &'a [String],
    tables: &'a [Table],
    charts: Vec<ChartView>,
}

pub fn prepare(p: &SummaryParams, ctx: &RenderContext) -> Result<Prepared, TemplateError> {
    let mut assets = Vec::new();
    let mut sections = Vec::new();
    for s in &p.sections {
        let mut charts = Vec::new();
        for c in &s.charts {
            let file = format!("chart{}.png", assets.len());
            let png = chart::series_chart(&series_chart(c)).map_err(|e| TemplateError::Chart(e.to_string()))?;
            assets.push((file.clone(), png));
            charts.push(ChartView { file, title: c.title.clone(), alt: alt_text(c) });
        }
        sections.push(SectionView { heading: &s.heading, paragraphs: &s.paragraphs, tables: &s.tables, charts });
    }
    let meta = DocMeta {
        title: p.title.clone(),
        author: p.author.clone(),
        subject: subject(&p.sections),
        keywords: Vec::new(),
        language: p.language.clone(),
    };
    let tex = super::render_tex(
        "summary/report.tex",
        minijinja::context! {
            doc => super::engine_doc(&meta, ctx, false),
            title => p.title,
            author => p.author,
            sections => sections,
        },
    )
    .map_err(|e| TemplateError::Template(format!("{e:#}")))?;
    Ok(Prepared { tex, assets, meta })
}

/// The most characters of the PDF's subject (the headings joined): escaped for the metadata
/// file a character can take 11 bytes, and TeX reads that file's lines into a 200,000-byte
/// buffer; 100 headings of 300 backslashes would not fit.
const MAX_SUBJECT: usize = 2_000;

fn subject(sections: &[Section]) -> String {
    let all = sections.iter().map(|s| s.heading.as_str()).collect::<Vec<_>>().join("; ");
    if all.chars().count() <= MAX_SUBJECT {
        return all;
    }
    let mut cut: String = all.chars().take(MAX_SUBJECT - 1).collect();
    cut.push('…');
    cut
}

pub fn chart_png(p: &SummaryParams) -> Result<Vec<u8>, chart::ChartError> {
    match p.sections.iter().flat_map(|s| &s.charts).next() {
        Some(c) => chart::series_chart(&series_chart(c)),
        None => Err(chart::ChartError::NoChart),
    }
}

/// The report's tables as CSV: section, table, row, then the cells (header row per table).
pub fn csv(p: &SummaryParams) -> String {
    let mut w = crate::csv::Writer::new();
    for s in &p.sections {
        for t in &s.tables {
            let head = [s.heading.as_str(), t.caption.as_str()];
            w.row(head.iter().copied().chain(t.header.iter().map(String::as_str)));
            for r in &t.rows {
                w.row(head.iter().copied().chain(r.iter().map(String::as_str)));
            }
        }
        for c in &s.charts {
            w.row([s.heading.as_str(), c.title.as_str(), "series"].into_iter().chain(c.categories.iter().map(String::as_str)));
            for ser in &c.series {
                let vals: Vec<String> = ser.values.iter().map(|v| v.to_string()).collect();
                w.row([s.heading.as_str(), c.title.as_str(), ser.name.as_str()].into_iter().chain(vals.iter().map(String::as_str)));
            }
        }
    }
    w.finish()
}
