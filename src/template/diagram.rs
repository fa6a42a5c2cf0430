//! The `diagram` template: DiAGRAM's archive risk-assessment report.
//!
//! Parameters are `{"models": [model, ...], "organisation"?: "..."}` with model objects exactly
//! as DiAGRAM's frontend sends them; validation names the model, scenario and key at fault.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{DocMeta, ParamDoc, Prepared, RenderContext, TemplateInfo, check_len, check_range};
use crate::chart::{self, ScorePanel};
use crate::render::RenderError;
use crate::request::{ParamError, json_error};

pub const BASE_SCENARIO: &str = "Base Model";
const MAX_MODELS: usize = 60;
const MAX_NAME: usize = 200;
const MAX_NOTES: usize = 10_000;

pub fn info() -> TemplateInfo {
    TemplateInfo {
        name: "diagram",
        description: "DiAGRAM archive risk-assessment report: scores per scenario with a chart, \
                      comments, the baseline answers and what each scenario changes (A4 landscape)",
        params: &[
            ParamDoc {
                name: "models",
                kind: "array of DiAGRAM model objects (1-60)",
                required: true,
                description: "model_name, scenario (\"Base Model\" marks the baseline), notes, \
                              intellectual_control and renderability (0-100), response (the nine \
                              answers), advanced (probability tables), is_advanced",
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
    models: Vec<RawModel>,
    #[serde(default)]
    organisation: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub model_name: String,
    pub scenario: String,
    pub notes: String,
    pub intellectual_control: f64,
    pub renderability: f64,
    pub response: Map<String, Value>,
    pub advanced: Value,
    pub is_advanced: bool,
}

/// Validated `diagram` parameters.
#[derive(Debug, Clone)]
pub struct DiagramParams {
    pub organisation: Option<String>,
    pub models: Vec<Model>,
}

#[derive(Debug, Clone)]
pub struct Model {
    /// Its position in `params.models`, for error paths.
    pub index: usize,
    /// The model as sent (the scoring engine reads `response` and `advanced` from it).
    pub raw: RawModel,
    /// The answers in question order, one entry per question part.
    pub answers: Vec<Answer>,
    /// Advanced tables, for display: node name and its table.
    pub advanced: Vec<AdvancedTable>,
}

/// One answered part of a question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub key: &'static str,
    pub topic: &'static str,
    pub part: String,
    pub question: String,
    pub response: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdvancedTable {
    pub node: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

const NDSA: &[&str] = &["Not achieved", "Level 1", "Level 2", "Level 3", "Level 4"];
const CAPABILITY: &[&str] = &["Minimal awareness", "Awareness", "Basic", "Managed", "Optimized"];
const SKILL: &[&str] = &["None", "Basic", "Intermediate", "Advanced"];
const SKILLS: [&str; 10] = [
    "Digital preservation strategy and policy",
    "File formats and their risks",
    "Metadata standards",
    "Storage and infrastructure",
    "Checksums and fixity checking",
    "Migration and emulation",
    "Digitisation",
    "Information security",
    "Rights and access management",
    "Scripting and automation",
];

/// The nine questions, in the order the report and CSV list them.
pub const KEYS: [&str; 9] = [
    "Digital_Object",
    "Storage_Medium",
    "Checksum",
    "Rep_and_Refresh",
    "Op_Environment",
    "Physical_Disaster",
    "System_Security",
    "Info_Management",
    "Technical_Skills",
];

pub fn topic(key: &str) -> &'static str {
    match key {
        "Digital_Object" => "Digital object type",
        "Storage_Medium" => "Storage medium",
        "Checksum" => "Checksums",
        "Rep_and_Refresh" => "Replication and refreshment",
        "Op_Environment" => "Operating environment",
        "Physical_Disaster" => "Physical disaster risk",
        "System_Security" => "System security",
        "Info_Management" => "Information management",
        "Technical_Skills" => "Technical skills",
        _ => "Other",
    }
}

pub fn parse(params: Value) -> Result<DiagramParams, ParamError> {
    let raw: RawParams = serde_path_to_error::deserialize(params).map_err(|e| json_error("params", e))?;
    if raw.models.is_empty() {
        return Err(ParamError::new("params.models", "must hold at least one model"));
    }
    if raw.models.len() > MAX_MODELS {
        return Err(ParamError::new(
            "params.models",
            format!("holds {} models; at most {MAX_MODELS} fit one report", raw.models.len()),
        ));
    }
    if let Some(org) = &raw.organisation {
        check_len("params.organisation", org, MAX_NAME)?;
    }
    let mut seen = std::collections::HashSet::new();
    let mut models = Vec::with_capacity(raw.models.len());
    for (i, m) in raw.models.into_iter().enumerate() {
        let model = validate_model(i, m)?;
        if !seen.insert((model.raw.model_name.clone(), model.raw.scenario.clone())) {
            return Err(ParamError::new(
                format!("params.models[{i}].scenario"),
                format!(
                    "model {:?} has scenario {:?} twice; scenarios of a model must be unique",
                    model.raw.model_name, model.raw.scenario
                ),
            ));
        }
        models.push(model);
    }
    Ok(DiagramParams { organisation: raw.organisation, models })
}

/// Validates one model object; errors name the model, the scenario and the key.
pub fn validate_model(i: usize, m: RawModel) -> Result<Model, ParamError> {
    let base = format!("params.models[{i}]");
    let who = format!("model {:?}, scenario {:?}", m.model_name, m.scenario);
    let err = |key: &str, msg: String| ParamError::new(format!("{base}.{key}"), format!("{who}: {msg}"));
    for (key, s, max) in [("model_name", &m.model_name, MAX_NAME), ("scenario", &m.scenario, MAX_NAME), ("notes", &m.notes, MAX_NOTES)] {
        check_len(&format!("{base}.{key}"), s, max).map_err(|e| err(key, e.message))?;
    }
    if m.model_name.trim().is_empty() {
        return Err(err("model_name", "must not be empty".into()));
    }
    if m.scenario.trim().is_empty() {
        return Err(err("scenario", "must not be empty".into()));
    }
    for (key, x) in [("intellectual_control", m.intellectual_control), ("renderability", m.renderability)] {
        check_range(key, x, 0.0, 100.0).map_err(|e| err(key, e.message))?;
    }
    for key in m.response.keys() {
        if !KEYS.contains(&key.as_str()) {
            return Err(err(&format!("response.{key}"), format!("unknown question {key:?}; expected one of {}", KEYS.join(", "))));
        }
    }
    let mut answers = Vec::new();
    for key in KEYS {
        match m.response.get(key) {
            Some(v) => answers.extend(parse_answer(key, v).map_err(|(k, msg)| err(&format!("response.{key}{k}"), msg))?),
            // Advanced models may leave questions to their tables.
            None if m.is_advanced => {}
            None => return Err(err(&format!("response.{key}"), format!("answer to {:?} is missing", topic(key)))),
        }
    }
    let advanced = if m.is_advanced {
        parse_advanced(&m.advanced).map_err(|(k, msg)| err(&format!("advanced{k}"), msg))?
    } else {
        Vec::new()
    };
    Ok(Model { index: i, raw: m, answers, advanced })
}

type AnswerErr = (String, String);

fn pct(v: &Value, at: &str) -> Result<f64, AnswerErr> {
    let x = v.as_f64().ok_or_else(|| (at.to_string(), format!("must be a percentage (a number), not {v}")))?;
    if !(0.0..=100.0).contains(&x) {
        return Err((at.to_string(), format!("is {x}; a percentage must be from 0 to 100")));
    }
    Ok(x)
}

fn choice(v: &Value, at: &str, options: &[&str]) -> Result<String, AnswerErr> {
    match v.as_str() {
        Some(s) if options.contains(&s) => Ok(s.to_string()),
        _ => Err((at.to_string(), format!("is {v}; expected one of {}", options.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>().join(", ")))),
    }
}

/// Sub-answers by position: `["a", "b"]` or `{"1": "a", "2": "b"}`.
fn parts<'a>(v: &'a Value, n: usize) -> Result<Vec<(&'a Value, String)>, AnswerErr> {
    match v {
        Value::Array(a) if a.len() == n => Ok(a.iter().enumerate().map(|(i, x)| (x, format!("[{i}]"))).collect()),
        Value::Object(o) if o.len() == n => (1..=n)
            .map(|k| {
                let k = k.to_string();
                o.get(&k).map(|x| (x, format!(".{k}"))).ok_or_else(|| (format!(".{k}"), format!("part {k:?} is missing")))
            })
            .collect(),
        _ => Err((String::new(), format!("must hold {n} answers (an array, or an object with keys \"1\" to \"{n}\"), not {v}"))),
    }
}

fn fmt_pct(x: f64) -> String {
    if x.fract() == 0.0 { format!("{x:.0}%") } else { format!("{x}%") }
}

fn parse_answer(key: &'static str, v: &Value) -> Result<Vec<Answer>, AnswerErr> {
    let t = topic(key);
    let ans = |part: &str, question: &str, response: String| Answer {
        key,
        topic: t,
        part: part.to_string(),
        question: question.to_string(),
        response,
    };
    let triple = |labels: [&str; 3], questions: [&str; 3]| -> Result<Vec<Answer>, AnswerErr> {
        let ps = parts(v, 3)?;
        let mut sum = 0.0;
        let mut out = Vec::new();
        for (j, (x, at)) in ps.iter().enumerate() {
            let p = pct(x, at)?;
            sum += p;
            out.push(ans(labels[j], questions[j], fmt_pct(p)));
        }
        if (sum - 100.0).abs() > 0.5 {
            return Err((String::new(), format!("the three percentages sum to {sum}; they must sum to 100")));
        }
        Ok(out)
    };
    match key {
        "Digital_Object" => triple(
            ["born_digital", "digitised", "surrogate"],
            [
                "Share of the collection that was born digital",
                "Share digitised from physical originals",
                "Share that are digital surrogates",
            ],
        ),
        "Storage_Medium" => triple(
            ["less_stable", "more_stable", "outsourced"],
            [
                "Share on less stable media (optical discs, portable drives)",
                "Share on more stable media (managed servers, tape)",
                "Share in outsourced storage (a preservation or cloud service)",
            ],
        ),
        "Checksum" => triple(
            ["yes", "self_generated", "no"],
            [
                "Share with checksums received from the creator and checked",
                "Share with checksums generated on ingest",
                "Share with no checksums",
            ],
        ),
        "Rep_and_Refresh" => {
            let ps = parts(v, 2)?;
            Ok(vec![
                ans("1", "Share of the collection held in more than one copy", fmt_pct(pct(ps[0].0, &ps[0].1)?)),
                ans("2", "Share of copies checked and refreshed on schedule", fmt_pct(pct(ps[1].0, &ps[1].1)?)),
            ])
        }
        "Op_Environment" => {
            let ps = parts(v, 2)?;
            Ok(vec![
                ans("1", "Share of the collection in a controlled, monitored environment", fmt_pct(pct(ps[0].0, &ps[0].1)?)),
                ans(
                    "2",
                    "Is the storage environment protected against fire, flood and power failure?",
                    choice(ps[1].0, &ps[1].1, &["Yes", "No", "Not Applicable - we have copies offsite"])?,
                ),
            ])
        }
        "Physical_Disaster" => Ok(vec![ans(
            "1",
            "How likely is a flood, fire or other disaster at the storage site?",
            choice(v, "", &["Very Low", "Low", "Medium", "High"])?,
        )]),
        "System_Security" => {
            let ps = parts(v, 4)?;
            Ok(vec![
                ans("1", "Security certification held", choice(ps[0].0, &ps[0].1, &["No", "Cyber Essentials", "Cyber Essentials Plus", "ISO 27001"])?),
                ans(
                    "2",
                    "Outcome of the last penetration test",
                    choice(ps[1].0, &ps[1].1, &["No test", "Critical issues outstanding", "Severe issues outstanding", "None, or only minor issues outstanding"])?,
                ),
                ans("3", "NDSA level met for information security", choice(ps[2].0, &ps[2].1, NDSA)?),
                ans("4", "Are files checked for viruses?", choice(ps[3].0, &ps[3].1, &["No", "Yes"])?),
            ])
        }
        "Info_Management" => {
            let ps = parts(v, 3)?;
            let caps = match ps[2].0 {
                Value::Array(a) if a.len() == 2 => a,
                other => return Err((ps[2].1.clone(), format!("must hold two capability answers, not {other}"))),
            };
            Ok(vec![
                ans("1", "NDSA level met for metadata", choice(ps[0].0, &ps[0].1, NDSA)?),
                ans("2", "NDSA level met for content", choice(ps[1].0, &ps[1].1, NDSA)?),
                ans("3.1", "Capability: knowing what the collection holds", choice(&caps[0], &format!("{}[0]", ps[2].1), CAPABILITY)?),
                ans("3.2", "Capability: managing information about the collection", choice(&caps[1], &format!("{}[1]", ps[2].1), CAPABILITY)?),
            ])
        }
        "Technical_Skills" => {
            let ps = parts(v, 10)?;
            ps.iter()
                .enumerate()
                .map(|(j, (x, at))| Ok(ans(&(j + 1).to_string(), &format!("Skill level: {}", SKILLS[j]), choice(x, at, SKILL)?)))
                .collect()
        }
        _ => unreachable!("keys are checked against KEYS"),
    }
}

/// Advanced tables for display. Shape checks only; the scoring engine checks the numbers.
fn parse_advanced(v: &Value) -> Result<Vec<AdvancedTable>, AnswerErr> {
    let Value::Object(nodes) = v else {
        return Err((String::new(), "must be an object of probability tables when is_advanced is true".into()));
    };
    let mut out = Vec::new();
    if nodes.len() > 21 {
        return Err((String::new(), format!("holds {} tables; the network has 21 nodes", nodes.len())));
    }
    for (node, table) in nodes {
        let at = format!(".{node}");
        if node.chars().count() > 64 {
            return Err((at, "node names are at most 64 characters".into()));
        }
        let Value::Object(cols) = table else {
            return Err((at, "must be an object (a probability table)".into()));
        };
        let mut header = Vec::new();
        let mut columns: Vec<Vec<String>> = Vec::new();
        for (name, col) in cols {
            if name.chars().count() > 64 {
                return Err((format!("{at}.{name}"), "state and parent names are at most 64 characters".into()));
            }
            header.push(name.replace('_', " "));
            columns.push(match col {
                Value::Number(n) => vec![format!("{:.4}", n.as_f64().unwrap_or(0.0))],
                Value::Array(a) => a
                    .iter()
                    .map(|x| match x {
                        Value::Number(n) => Ok(format!("{:.4}", n.as_f64().unwrap_or(0.0))),
                        Value::String(s) if s.chars().count() <= 64 => Ok(s.replace('_', " ")),
                        Value::String(_) => Err((format!("{at}.{name}"), "state names are at most 64 characters".into())),
                        _ => Err((format!("{at}.{name}"), format!("must hold numbers or state names, not {x}"))),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err((format!("{at}.{name}"), format!("must be a number or an array, not {col}"))),
            });
        }
        let n = columns.iter().map(Vec::len).max().unwrap_or(0);
        if n > 256 || columns.len() > 12 {
            return Err((at, "table is too large to print (at most 12 columns and 256 rows)".into()));
        }
        let rows = (0..n).map(|r| columns.iter().map(|c| c.get(r).cloned().unwrap_or_default()).collect()).collect();
        out.push(AdvancedTable { node: node.replace('_', " "), header, rows });
    }
    Ok(out)
}

/// A model name with its scenarios, base first.
struct Group<'a> {
    name: &'a str,
    base: &'a Model,
    scenarios: Vec<&'a Model>,
}

fn groups(p: &DiagramParams) -> Vec<Group<'_>> {
    let mut names: Vec<&str> = Vec::new();
    for m in &p.models {
        if !names.contains(&m.raw.model_name.as_str()) {
            names.push(&m.raw.model_name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let mut all: Vec<&Model> = p.models.iter().filter(|m| m.raw.model_name == name).collect();
            // The baseline is "Base Model"; a group without one is compared with its first scenario.
            let bi = all.iter().position(|m| m.raw.scenario == BASE_SCENARIO).unwrap_or(0);
            let base = all.remove(bi);
            Group { name, base, scenarios: all }
        })
        .collect()
}

fn panel(g: &Group<'_>) -> ScorePanel {
    ScorePanel {
        title: g.name.to_string(),
        rows: std::iter::once(g.base)
            .chain(g.scenarios.iter().copied())
            .map(|m| (m.raw.scenario.clone(), m.raw.intellectual_control, m.raw.renderability))
            .collect(),
    }
}

pub fn chart_png(p: &DiagramParams) -> Result<Vec<u8>, chart::ChartError> {
    chart::score_panels(&groups(p).iter().map(panel).collect::<Vec<_>>())
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
            None => panels.push(ScorePanel {
                title: r.model_name.clone(),
                rows: vec![(r.scenario.clone(), r.intellectual_control, r.renderability)],
            }),
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
    changes: Vec<(&'a str, &'a str, &'a str, &'a str)>,
    advanced: &'a [AdvancedTable],
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
fn improvements(m: &Model, scorer: &crate::scoring::Diagram) -> Result<Vec<ImprovementView>, RenderError> {
    let value = serde_json::to_value(&m.raw).map_err(|e| RenderError::Template(e.to_string()))?;
    let list = scorer
        .improvements(&value)
        .map_err(|e| ParamError::new(format!("params.models[{}].{}", m.index, e.field), e.message))?;
    Ok(list
        .into_iter()
        // Gains below a twentieth of a point are noise to a reader.
        .filter(|i| i.total_gain() > 0.05)
        .take(5)
        .filter_map(|i| {
            let key = KEYS.iter().copied().find(|k| *k == i.question)?;
            let parts = parse_answer(key, &i.answer).ok()?;
            let change: Vec<String> = parts
                .iter()
                .filter(|p| !m.answers.iter().any(|b| b.key == p.key && b.part == p.part && b.response == p.response))
                .map(|p| format!("{}: {}", p.question, p.response))
                .collect();
            Some(ImprovementView {
                topic: topic(key),
                change: change.join("; "),
                ic: i.intellectual_control,
                rend: i.renderability,
                gain_ic: i.gain_intellectual_control,
                gain_rend: i.gain_renderability,
            })
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
    answers: &'a [Answer],
}

fn view<'a>(m: &'a Model, base: &'a Model) -> ScenarioView<'a> {
    let changes = m
        .answers
        .iter()
        .filter_map(|a| {
            let b = base.answers.iter().find(|b| b.key == a.key && b.part == a.part);
            match b {
                Some(b) if b.response == a.response => None,
                Some(b) => Some((a.topic, a.question.as_str(), a.response.as_str(), b.response.as_str())),
                None => Some((a.topic, a.question.as_str(), a.response.as_str(), "")),
            }
        })
        .collect();
    ScenarioView {
        scenario: &m.raw.scenario,
        notes: &m.raw.notes,
        ic: m.raw.intellectual_control,
        rend: m.raw.renderability,
        d_ic: m.raw.intellectual_control - base.raw.intellectual_control,
        d_rend: m.raw.renderability - base.raw.renderability,
        is_advanced: m.raw.is_advanced,
        changes,
        advanced: &m.advanced,
    }
}

/// The chart's data in words: the alternative text a screen reader gets for the image.
fn alt_text(p: &ScorePanel) -> String {
    let parts: Vec<String> = p
        .rows
        .iter()
        .map(|(s, ic, r)| format!("{s}: intellectual control {ic:.0}, renderability {r:.0}"))
        .collect();
    format!("Bar chart of the scores of {} (0 to 100, higher is lower risk). {}.", p.title, parts.join("; "))
}

pub fn prepare(p: &DiagramParams, ctx: &RenderContext) -> Result<Prepared, RenderError> {
    let groups = groups(p);
    let mut assets = Vec::new();
    let mut views = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let panel = panel(g);
        let png = chart::score_panels(std::slice::from_ref(&panel)).map_err(|e| RenderError::Chart(e.to_string()))?;
        let chart = format!("chart{i}.png");
        assets.push((chart.clone(), png));
        let improvements = match (&ctx.scorer, g.base.raw.is_advanced) {
            (Some(scorer), false) => improvements(g.base, scorer)?,
            _ => Vec::new(),
        };
        views.push(GroupView {
            name: g.name,
            improvements,
            chart,
            chart_alt: alt_text(&panel),
            base: view(g.base, g.base),
            scenarios: g.scenarios.iter().map(|m| view(m, g.base)).collect(),
            answers: &g.base.answers,
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
    .map_err(|e| RenderError::Template(format!("{e:#}")))?;
    Ok(Prepared { tex, assets, meta })
}

/// RFC 4180 CSV: one row per answered question part; advanced models are left out.
pub fn csv(p: &DiagramParams) -> String {
    let mut w = crate::csv::Writer::new();
    w.row(["name", "scenario", "notes", "topic", "question", "part", "response", "intellectual_control", "renderability"]);
    for m in p.models.iter().filter(|m| !m.raw.is_advanced) {
        for a in &m.answers {
            w.row([
                m.raw.model_name.as_str(),
                &m.raw.scenario,
                &m.raw.notes,
                a.topic,
                &a.question,
                &a.part,
                &a.response,
                &crate::latex::number(m.raw.intellectual_control, 2),
                &crate::latex::number(m.raw.renderability, 2),
            ]);
        }
    }
    w.finish()
}
