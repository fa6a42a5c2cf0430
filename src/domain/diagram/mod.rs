//! The DiAGRAM model: one archive's answers (or advanced probability tables) and its two
//! scores, parsed once from the JSON DiAGRAM's frontend sends, under one set of rules.
//!
//! Every route and output reads these types: validation, scoring ([`crate::scoring`]), the
//! report, its CSV and its chart ([`crate::template::diagram`]). A model one of them accepts,
//! all of them accept, and a refusal reads the same everywhere ([`ModelError`]).

mod advanced;
mod questions;

use serde_json::{Map, Value};

pub use advanced::{AdvancedTable, Column};
pub use questions::*;

use super::ParamError;

/// The scenario name that marks a model's baseline.
pub const BASE_SCENARIO: &str = "Base Model";
/// The most models one request may hold, set from `scripts/bench-models.py`: the heaviest shape
/// (advanced models, 7 pages of tables each) takes about 37 ms a model, 8.9 s for 240 on the
/// 2-core machine CI runs on. At 250, a worker twice as slow still finishes inside
/// `POST /api/report/pdf`'s 25 s wait and at a third of the 60 s render timeout.
pub const MAX_MODELS: usize = 250;
pub const MAX_NAME: usize = 200;
pub const MAX_NOTES: usize = 10_000;
/// How far from 100 a percentage triple may sum: the frontend rounds each percentage.
pub const TRIPLE_SUM_TOLERANCE: f64 = 1.0;

/// A model that breaks a rule. `field` is the path inside the model object
/// (`response.Checksum[1]`, `advanced.Integrity`), `message` says what is wrong; the text
/// names the model and scenario.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", who(model, scenario))]
pub struct ModelError {
    pub model: String,
    pub scenario: String,
    pub field: String,
    pub message: String,
}

fn who(model: &str, scenario: &str) -> String {
    if model.is_empty() && scenario.is_empty() { String::new() } else { format!("model {model:?}, scenario {scenario:?}: ") }
}

impl ModelError {
    /// The same error as a request error, its field prefixed with where the model sits
    /// (`params.models[2]`).
    pub fn at(&self, prefix: &str) -> ParamError {
        ParamError::new(join(prefix, &self.field), self.to_string())
    }
}

/// Joins a path prefix and a path (`a` + `b` = `a.b`, `a` + `[1]` = `a[1]`).
pub fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (_, true) => prefix.to_string(),
        (true, false) => path.to_string(),
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        _ => format!("{prefix}.{path}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The model

/// One DiAGRAM model object, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub model_name: String,
    pub scenario: String,
    pub notes: String,
    /// The two scores as sent; `None` when the frontend asks for them to be computed (a new
    /// model is scored with them null).
    pub intellectual_control: Option<f64>,
    pub renderability: Option<f64>,
    pub response: Response,
    pub is_advanced: bool,
    /// The tables an advanced model replaces nodes with (empty unless `is_advanced`).
    pub advanced: Vec<AdvancedTable>,
}

const KEYS: &[&str] = &["model_name", "scenario", "notes", "intellectual_control", "renderability", "response", "advanced", "is_advanced"];

/// Reads parts of one model object, naming the model in its errors.
pub(crate) struct Ctx<'a> {
    pub(crate) model: &'a str,
    pub(crate) scenario: &'a str,
}

impl Ctx<'_> {
    pub(crate) fn err(&self, field: impl Into<String>, message: impl Into<String>) -> ModelError {
        ModelError { model: self.model.to_string(), scenario: self.scenario.to_string(), field: field.into(), message: message.into() }
    }
}

fn text_len(s: &str, max: usize) -> Result<(), String> {
    let n = s.chars().count();
    if n > max { Err(format!("is {n} characters long; at most {max} are allowed")) } else { Ok(()) }
}

impl Model {
    /// Parses one model object (the same rules for every route).
    pub fn parse(value: &Value) -> Result<Model, ModelError> {
        let unnamed = Ctx { model: "", scenario: "" };
        let Value::Object(o) = value else {
            return Err(unnamed.err("", format!("expected a model object, not {}", kind_of(value))));
        };
        let text = |key: &str| o.get(key).and_then(Value::as_str);
        let cx = Ctx { model: text("model_name").unwrap_or(""), scenario: text("scenario").unwrap_or("") };
        if let Some(k) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(cx.err(k.as_str(), format!("unknown field {k:?}; a model has {}", KEYS.join(", "))));
        }
        for key in ["model_name", "scenario"] {
            let s = text(key).ok_or_else(|| cx.err(key, "must be a string"))?;
            text_len(s, MAX_NAME).map_err(|m| cx.err(key, m))?;
            if s.trim().is_empty() {
                return Err(cx.err(key, "must not be empty"));
            }
        }
        let notes = match o.get("notes") {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s,
            Some(_) => return Err(cx.err("notes", "must be a string")),
        };
        text_len(notes, MAX_NOTES).map_err(|m| cx.err("notes", m))?;
        let score = |key: &str| match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) if (0.0..=100.0).contains(&x) => Ok(Some(x)),
                _ => Err(cx.err(key, format!("is {v}; it must be a number from 0 to 100 (or null, to have it computed)"))),
            },
        };
        let intellectual_control = score("intellectual_control")?;
        let renderability = score("renderability")?;
        let is_advanced = match o.get("is_advanced") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(cx.err("is_advanced", "must be true or false")),
        };
        let response = match o.get("response") {
            Some(Value::Object(r)) => parse_response(r, is_advanced, &cx)?,
            // An advanced model made "from default" has no answers, only tables.
            None | Some(Value::Null) if is_advanced => Response::default(),
            _ => return Err(cx.err("response", "must be an object of answers (it may be null only when is_advanced is true)")),
        };
        let advanced = match o.get("advanced") {
            Some(Value::Object(t)) if is_advanced => advanced::parse_advanced(t, &cx)?,
            _ if is_advanced => return Err(cx.err("advanced", "must be an object of probability tables when is_advanced is true")),
            None | Some(Value::Null) | Some(Value::Object(_)) => Vec::new(),
            Some(_) => return Err(cx.err("advanced", "must be an object of probability tables, or null")),
        };
        Ok(Model {
            model_name: cx.model.to_string(),
            scenario: cx.scenario.to_string(),
            notes: notes.to_string(),
            intellectual_control,
            renderability,
            response,
            is_advanced,
            advanced,
        })
    }

    /// Parses a model, or an array holding exactly one (what `/api/model/score` is sent).
    pub fn parse_one(value: &Value) -> Result<Model, ModelError> {
        match value {
            Value::Array(items) if items.len() == 1 => Model::parse(&items[0]),
            Value::Array(items) => {
                Err(Ctx { model: "", scenario: "" }.err("", format!("expected one model object, got an array of {}", items.len())))
            }
            other => Model::parse(other),
        }
    }

    pub fn is_base(&self) -> bool {
        self.scenario == BASE_SCENARIO
    }

    /// An error about this model.
    pub fn error(&self, field: impl Into<String>, message: impl Into<String>) -> ModelError {
        Ctx { model: &self.model_name, scenario: &self.scenario }.err(field, message)
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_response(r: &Map<String, Value>, is_advanced: bool, cx: &Ctx<'_>) -> Result<Response, ModelError> {
    if let Some(k) = r.keys().find(|k| Question::from_key(k).is_none()) {
        let keys: Vec<&str> = Question::ALL.iter().map(|q| q.key()).collect();
        return Err(cx.err(format!("response.{k}"), format!("unknown question {k:?}; expected one of {}", keys.join(", "))));
    }
    let mut answers = Vec::new();
    for q in Question::ALL {
        let field = format!("response.{}", q.key());
        match r.get(q.key()) {
            Some(v) => answers.push(parse_answer(q, v).map_err(|(at, m)| cx.err(format!("{field}{at}"), m))?),
            // Advanced models may leave questions to their tables.
            None if is_advanced => {}
            None => return Err(cx.err(field, format!("the answer to {:?} is missing", q.topic()))),
        }
    }
    Ok(Response { answers })
}

// ---------------------------------------------------------------------------------------------
// A request's models

/// The models of one request (a report, the CSV, `validate_json`), in the order sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Models {
    pub models: Vec<Model>,
}

impl Models {
    /// Parses an array of model objects; errors carry the model's index in their field
    /// (`[2].response.Checksum`) and the whole set's rules (count, unique scenarios).
    pub fn parse(items: &[Value]) -> Result<Models, (Option<usize>, ModelError)> {
        let none = Ctx { model: "", scenario: "" };
        if items.is_empty() {
            return Err((None, none.err("", "must hold at least one model")));
        }
        if items.len() > MAX_MODELS {
            return Err((None, none.err("", format!("holds {} models; at most {MAX_MODELS} fit one report: export them in parts", items.len()))));
        }
        let mut models: Vec<Model> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let m = Model::parse(item).map_err(|e| (Some(i), e))?;
            if models.iter().any(|o| o.model_name == m.model_name && o.scenario == m.scenario) {
                let e = m.error("scenario", format!("scenario {:?} is given twice; the scenarios of a model must be unique", m.scenario));
                return Err((Some(i), e));
            }
            models.push(m);
        }
        Ok(Models { models })
    }

    /// The same parse, errors as request errors under `prefix` (`params.models`).
    pub fn parse_at(items: &[Value], prefix: &str) -> Result<Models, ParamError> {
        Models::parse(items).map_err(|(i, e)| match i {
            Some(i) => e.at(&format!("{prefix}[{i}]")),
            None => e.at(prefix),
        })
    }

    /// Model names with their scenarios, in first-seen order; the baseline of each is its
    /// "Base Model" scenario, else its first.
    pub fn groups(&self) -> Vec<Group<'_>> {
        let mut names: Vec<&str> = Vec::new();
        for m in &self.models {
            if !names.contains(&m.model_name.as_str()) {
                names.push(&m.model_name);
            }
        }
        names
            .into_iter()
            .map(|name| {
                let mut all: Vec<&Model> = self.models.iter().filter(|m| m.model_name == name).collect();
                let bi = all.iter().position(|m| m.is_base()).unwrap_or(0);
                let base = all.remove(bi);
                Group { name, base, scenarios: all }
            })
            .collect()
    }
}

/// A model name with its scenarios, baseline first.
pub struct Group<'a> {
    pub name: &'a str,
    pub base: &'a Model,
    pub scenarios: Vec<&'a Model>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn model() -> Value {
        serde_json::from_str(include_str!("../../../tests/fixtures/model.json")).unwrap()
    }

    #[test]
    fn answers_round_trip_through_their_json_shape() {
        let m = Model::parse(&model()).unwrap();
        assert_eq!(m.response.answers.len(), 9);
        for a in &m.response.answers {
            assert_eq!(&parse_answer(a.question, &a.to_json()).unwrap(), a, "{:?}", a.question);
        }
    }

    #[test]
    fn triples_may_be_off_by_rounding_only() {
        let ok = |v: Value| parse_answer(Question::Checksum, &v);
        assert!(ok(json!([33, 33, 33])).is_ok());
        assert!(ok(json!([33.5, 33, 34.4])).is_ok());
        let e = ok(json!([40, 40, 10])).unwrap_err();
        assert!(e.1.contains("sum to 90"), "{e:?}");
    }

    #[test]
    fn parts_may_be_arrays_or_keyed_objects_at_every_level() {
        let a = parse_answer(Question::InfoManagement, &json!({"1": "Level 1", "2": "Level 2", "3": ["Basic", "Awareness"]})).unwrap();
        let b = parse_answer(Question::InfoManagement, &json!(["Level 1", "Level 2", {"1": "Basic", "2": "Awareness"}])).unwrap();
        assert_eq!(a, b);
        let e = parse_answer(Question::InfoManagement, &json!({"1": "Level 1", "2": "Level 2", "3": ["Basic", "Expert"]})).unwrap_err();
        assert_eq!(e.0, ".3[1]");
    }

    #[test]
    fn advanced_models_may_have_no_response() {
        let mut v = model();
        v["is_advanced"] = json!(true);
        v["response"] = Value::Null;
        v["advanced"] = json!({"Technical_Skills": {"Good": 0.3, "Poor": 0.7}});
        let m = Model::parse(&v).unwrap();
        assert!(m.response.answers.is_empty());
        assert_eq!(m.advanced[0].columns[0], ("Good".to_string(), Column::Scalar(0.3)));
        v["is_advanced"] = json!(false);
        let e = Model::parse(&v).unwrap_err();
        assert_eq!(e.field, "response");
    }

    #[test]
    fn errors_name_model_scenario_and_path() {
        let mut v = model();
        v["response"]["Technical_Skills"][2] = json!("Expert");
        let e = Model::parse(&v).unwrap_err();
        assert_eq!(e.field, "response.Technical_Skills[2]");
        assert!(e.to_string().starts_with("model \"County Record Office\", scenario \"Base Model\": is \"Expert\""), "{e}");
        let p = e.at("params.models[3]");
        assert_eq!(p.field, "params.models[3].response.Technical_Skills[2]");
        assert_eq!(p.message, e.to_string());
    }
}
