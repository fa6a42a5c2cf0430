//! The `diagram` template: DiAGRAM's archive risk-assessment report, its chart and CSV.
//!
//! Parameters are `{"models": [model, ...], "organisation"?: "..."}` with model objects exactly
//! as DiAGRAM's frontend sends them, parsed by [`crate::domain::diagram`] (the same rules as
//! every other route); this file only lays them out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DocMeta, ParamDoc, Prepared, RenderContext, TemplateError, TemplateInfo, check_len, check_range};
use crate::chart::{self, ScorePanel};
use crate::domain::ParamError;
use crate::domain::diagram::{Group, MAX_MODELS, MAX_NAME, Model, Models};
use crate::scoring::Scorer;

pub fn info() -> TemplateInfo {
    TemplateInfo {
        name: "diagram",
        description: "DiAGRAM archive risk-assessment report: scores per scenario with a chart, \
                      comments, the baseline answers and what each scenario changes (A4 landscape)",
        params: &[
            ParamDoc {
                name: "models",
                kind: "array of DiAGRAM model objects (1-250)",
                required: true,
                description: "model_name, scenario (\"Base Model\" marks the baseline), notes, \
                              intellectual_control and renderability (0-100, or null to have them \
                              computed), response (the nine answers; null for an advanced model), \
                              advanced (probability tables), is_advanced",
            },
            ParamDoc {
                name: "organisation",
                kind: "string (<= 200 chars)",
                required: false,
                description: "shown on the title page; defaults to the model names",
            },
        ],
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParams {
    models: Vec<Value>,
    #[serde(default)]
    organisation: Option<String>,
}

/// Validated `diagram` parameters: every model has its two scores.
#[derive(Debug, Clone)]
pub struct DiagramParams {
    pub organisation: Option<String>,
    pub models: Models,
}

/// Parses the parameters. With a network, models are checked against it and missing scores
/// computed; without one, every score must be given.
pub fn parse(params: &Value, scorer: Option<&Scorer>) -> Result<DiagramParams, ParamError> {
    let raw: RawParams = serde_path_to_error::deserialize(params).map_err(|e| crate::domain::json_error("params", e))?;
    if let Some(org) = &raw.organisation {
        check_len("params.organisation", org, MAX_NAME)?;
    }
    let mut models = Models::parse_at(&raw.models, "params.models")?;
    for (i, m) in models.models.iter_mut().enumerate() {
        let at = format!("params.models[{i}]");
        match scorer {
            Some(d) => {
                d.check(m).map_err(|e| e.at(&at))?;
                if m.intellectual_control.is_none() || m.renderability.is_none() {
                    let s = d.score(m).map_err(|e| e.at(&at))?;
                    m.intellectual_control = m.intellectual_control.or(Some(s.intellectual_control));
                    m.renderability = m.renderability.or(Some(s.renderability));
                }
            }
            None => {
                for (key, x) in [("intellectual_control", m.intellectual_control), ("renderability", m.renderability)] {
                    if x.is_none() {
                        let e = m.error(key, "is null; a report needs the score, and no DiAGRAM network is configured to compute it");
                        return Err(e.at(&at));
                    }
                }
            }
        }
    }
    Ok(DiagramParams { organisation: raw.organisation, models })
}

/// A model's scores; parsing made sure both are there.
fn ic(m: &Model) -> f64 {
    m.intellectual_control.unwrap_or(0.0)
}

fn rend(m: &Model) -> f64 {
    m.renderability.unwrap_or(0.0)
}

/// One answered part of a question, as the report and CSV show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerRow {
    pub key: &'static str,
    pub topic: &'static str,
    pub part: &'static str,
    pub question: &'static str,
    pub response: String,
}

pub fn answer_rows(m: &Model) -> Vec<AnswerRow> {
    m.response
        .answers
        .iter()
        .flat_map(|a| {
            a.parts().map(|(p, v)| AnswerRow {
                key: a.question.key(),
                topic: a.question.topic(),
                part: p.label,
                question: p.text,
                response: v.display(),
            })
        })
        .collect()
}

/// An advanced table as printed: header and rows of text.
#[derive(Debug, Clone, Serialize)]
pub struct TableView {
    pub node: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn table_views(m: &Model) -> Vec<TableView> {
    use crate::domain::diagram::Column;
    m.advanced
        .iter()
        .map(|t| {
            let cells = |c: &Column| -> Vec<String> {
                match c {
                    Column::Numbers(v) => v.iter().map(|x| format!("{x:.4}")).collect(),
                    Column::Scalar(x) => vec![format!("{x:.4}")],
                    Column::States(v) => v.iter().map(|s| s.replace('_', " ")).collect(),
                }
            };
            let columns: Vec<Vec<String>> = t.columns.iter().map(|(_, c)| cells(c)).collect();
            let n = columns.iter().map(Vec::len).max().unwrap_or(0);
            TableView {
                node: t.node.replace('_', " "),
                header: t.columns.iter().map(|(h, _)| h.replace('_', " ")).collect(),
                rows: (0..n).map(|r| columns.iter().map(|c| c.get(r).cloned().unwrap_or_default()).collect()).collect(),
            }
        })
        .collect()
}

fn panel(g: &Group<'_>) -> ScorePanel {
    ScorePanel {
        title: g.name.to_string(),
        rows: std::iter::once(g.base).chain(g.scenarios.iter().copied()).map(|m| (m.scenario.clone(), ic(m), rend(m))).collect(),
    }
}

pub fn chart_png(p: &DiagramParams) -> Result<Vec<u8>, chart::ChartError> {
    chart::score_panels(&p.models.groups().iter().map(panel).collect::<Vec<_>>())
}

/// The old backend's chart route takes bare score rows rather than whole models.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRow {
    pub model_name: String,
    pub scenario: String,
    pub intellectual_control: f64,
    pub renderability: f64,
}

pub fn chart_from_rows(rows: &[ScoreRow]) -> Result<Vec<u8>, ParamError> {
    if rows.is_empty() || rows.len() > MAX_MODELS {
        return Err(ParamError::new("", format!("must hold 1 to {MAX_MODELS} score rows")));
    }
    let mut panels: Vec<ScorePanel> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        for (key, x) in [("intellectual_control", r.intellectual_control), ("renderability", r.renderability)] {
            check_range(&format!("[{i}].{key}"), x, 0.0, 100.0)?;
        }
        check_len(&format!("[{i}].model_name"), &r.model_name, MAX_NAME)?;
        check_len(&format!("[{i}].scenario"), &r.scenario, MAX_NAME)?;
        match panels.iter_mut().find(|p| p.title == r.model_name) {
            Some(p) => p.rows.push((r.scenario.clone(), r.intellectual_control, r.renderability)),
            None => {
                panels.push(ScorePanel { title: r.model_name.clone(), rows: vec![(r.scenario.clone(), r.intellectual_control, r.renderability)] })
            }
        }
    }
    chart::score_panels(&panels).map_err(|e| ParamError::new("", e.to_string()))
}

#[derive(Serialize)]
struct ScenarioView<'a> {
    scenario: &'a str,
    notes: &'a str,
    ic: f64,
    rend: f64,
    d_ic: f64,
    d_rend: f64,
    is_advanced: bool,
    /// (topic, question, scenario response, base response) for answers that differ.
    changes: Vec<(&'static str, &'static str, String, String)>,
    advanced: Vec<TableView>,
}

/// One row of "Where to improve first".
#[derive(Serialize)]
struct ImprovementView {
    topic: &'static str,
    change: String,
    ic: f64,
    rend: f64,
    gain_ic: f64,
    gain_rend: f64,
}

/// The best single changes to a baseline, ranked; computed exactly by the scoring engine.
fn improvements(m: &Model, scorer: &Scorer) -> Result<Vec<ImprovementView>, ParamError> {
    let list = scorer.improvements(m).map_err(|e| ParamError::new(e.field.clone(), e.to_string()))?;
    let current = answer_rows(m);
    Ok(list
        .into_iter()
        // Gains below a twentieth of a point are noise to a reader.
        .filter(|i| i.total_gain() > 0.05)
        .take(5)
        .map(|i| {
            let change: Vec<String> = i
                .answer
                .parts()
                .filter(|(p, v)| !current.iter().any(|b| b.key == i.question().key() && b.part == p.label && b.response == v.display()))
                .map(|(p, v)| format!("{}: {}", p.text, v.display()))
                .collect();
            ImprovementView {
                topic: i.question().topic(),
                change: change.join("; "),
                ic: i.intellectual_control,
                rend: i.renderability,
                gain_ic: i.gain_intellectual_control,
                gain_rend: i.gain_renderability,
            }
        })
        .collect())
}

#[derive(Serialize)]
struct GroupView<'a> {
    name: &'a str,
    improvements: Vec<ImprovementView>,
    chart: String,
    chart_alt: String,
    base: ScenarioView<'a>,
    scenarios: Vec<ScenarioView<'a>>,
    answers: Vec<AnswerRow>,
}

/// A scenario against its baseline, whose answer rows the caller made once per group.
fn view<'a>(m: &'a Model, base: &'a Model, base_rows: &[AnswerRow]) -> ScenarioView<'a> {
    let changes = answer_rows(m)
        .into_iter()
        .filter_map(|a| match base_rows.iter().find(|b| b.key == a.key && b.part == a.part) {
            Some(b) if b.response == a.response => None,
            Some(b) => Some((a.topic, a.question, a.response, b.response.clone())),
            None => Some((a.topic, a.question, a.response, String::new())),
        })
        .collect();
    ScenarioView {
        scenario: &m.scenario,
        notes: &m.notes,
        ic: ic(m),
        rend: rend(m),
        d_ic: ic(m) - ic(base),
        d_rend: rend(m) - rend(base),
        is_advanced: m.is_advanced,
        changes,
        advanced: table_views(m),
    }
}

/// The chart's data in words: the alternative text a screen reader gets for the image.
fn alt_text(p: &ScorePanel) -> String {
    let parts: Vec<String> = p.rows.iter().map(|(s, ic, r)| format!("{s}: intellectual control {ic:.0}, renderability {r:.0}")).collect();
    format!("Bar chart of the scores of {} (0 to 100, higher is lower risk). {}.", p.title, parts.join("; "))
}

pub fn prepare(p: &DiagramParams, ctx: &RenderContext) -> Result<Prepared, TemplateError> {
    let groups = p.models.groups();
    let mut assets = Vec::new();
    let mut views = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let panel = panel(g);
        let png = chart::score_panels(std::slice::from_ref(&panel)).map_err(|e| TemplateError::Chart(e.to_string()))?;
        let chart = format!("chart{i}.png");
        assets.push((chart.clone(), png));
        let improvements = match (&ctx.scorer, g.base.is_advanced) {
            (Some(scorer), false) => improvements(g.base, scorer)?,
            _ => Vec::new(),
        };
        let base_rows = answer_rows(g.base);
        views.push(GroupView {
            name: g.name,
            improvements,
            chart,
            chart_alt: alt_text(&panel),
            base: view(g.base, g.base, &base_rows),
            scenarios: g.scenarios.iter().map(|m| view(m, g.base, &base_rows)).collect(),
            answers: base_rows,
        });
    }
    let names: Vec<&str> = groups.iter().map(|g| g.name).collect();
    let organisation = p.organisation.clone().unwrap_or_else(|| names.join(", "));
    let meta = DocMeta {
        title: format!("DiAGRAM risk assessment: {organisation}"),
        author: organisation.clone(),
        subject: "Digital archive risk assessment (DiAGRAM): intellectual control and renderability scores".into(),
        keywords: vec!["DiAGRAM".into(), "digital preservation".into(), "risk assessment".into()],
        language: "en-GB".into(),
    };
    let tex = super::render_tex(
        "diagram/report.tex",
        minijinja::context! {
            doc => super::engine_doc(&meta, ctx, true),
            organisation => organisation,
            groups => views,
        },
    )
    .map_err(|e| TemplateError::Template(format!("{e:#}")))?;
    Ok(Prepared { tex, assets, meta })
}

/// RFC 4180 CSV: one row per answered question part; advanced models are left out.
pub fn csv(p: &DiagramParams) -> String {
    let mut w = crate::csv::Writer::new();
    w.row(["name", "scenario", "notes", "topic", "question", "part", "response", "intellectual_control", "renderability"]);
    for m in p.models.models.iter().filter(|m| !m.is_advanced) {
        for a in answer_rows(m) {
            w.row([
                m.model_name.as_str(),
                &m.scenario,
                &m.notes,
                a.topic,
                a.question,
                a.part,
                &a.response,
                &crate::latex::number(ic(m), 2),
                &crate::latex::number(rend(m), 2),
            ]);
        }
    }
    w.finish()
}
