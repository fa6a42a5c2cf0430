//! The DiAGRAM model: one archive's answers (or advanced probability tables) and its two
//! scores, parsed once from the JSON DiAGRAM's frontend sends, under one set of rules.
//!
//! Every route and output reads these types: validation, scoring ([`crate::scoring`]), the
//! report, its CSV and its chart ([`crate::template::diagram`]). A model one of them accepts,
//! all of them accept, and a refusal reads the same everywhere ([`ModelError`]).

use serde_json::{Map, Value, json};

use super::ParamError;

/// The scenario name that marks a model's baseline.
pub const BASE_SCENARIO: &str = "Base Model";
/// The most models one request may hold.
pub const MAX_MODELS: usize = 60;
pub const MAX_NAME: usize = 200;
pub const MAX_NOTES: usize = 10_000;
/// How far from 100 a percentage triple may sum: the frontend rounds each percentage.
pub const TRIPLE_SUM_TOLERANCE: f64 = 1.0;
/// Limits on an advanced model's tables: DiAGRAM's network has 21 nodes.
const MAX_TABLES: usize = 21;
const MAX_TABLE_NAME: usize = 64;
const MAX_COLUMNS: usize = 12;
const MAX_ROWS: usize = 256;

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
// The questionnaire

/// One of the nine questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Question {
    DigitalObject,
    StorageMedium,
    Checksum,
    RepAndRefresh,
    OpEnvironment,
    PhysicalDisaster,
    SystemSecurity,
    InfoManagement,
    TechnicalSkills,
}

/// What one part of an answer holds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Percent,
    Choice(&'static [&'static str]),
}

/// One part of a question: its label in the CSV (`part`), its wording, what it takes.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub label: &'static str,
    pub text: &'static str,
    pub kind: Kind,
}

/// How an answer is laid out in `response`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A bare value.
    Single,
    /// `n` parts: an array, or an object keyed "1".."n".
    Parts,
    /// Three parts, the third itself two parts (Info_Management).
    LastNested,
}

pub const NDSA: &[&str] = &["Not achieved", "Level 1", "Level 2", "Level 3", "Level 4"];
pub const CAPABILITY: &[&str] = &["Minimal awareness", "Awareness", "Basic", "Managed", "Optimized"];
pub const SKILL: &[&str] = &["None", "Basic", "Intermediate", "Advanced"];
pub const CERTIFICATION: &[&str] = &["No", "Cyber Essentials", "Cyber Essentials Plus", "ISO 27001"];
pub const PEN_TEST: &[&str] = &["No test", "Critical issues outstanding", "Severe issues outstanding", "None, or only minor issues outstanding"];
pub const YES_NO: &[&str] = &["No", "Yes"];
pub const OFFSITE: &[&str] = &["Yes", "No", "Not Applicable - we have copies offsite"];
pub const DISASTER: &[&str] = &["Very Low", "Low", "Medium", "High"];

const fn pct(label: &'static str, text: &'static str) -> Part {
    Part { label, text, kind: Kind::Percent }
}

const fn choice(label: &'static str, text: &'static str, options: &'static [&'static str]) -> Part {
    Part { label, text, kind: Kind::Choice(options) }
}

const SKILLS: [Part; 10] = [
    choice("1", "Skill level: Digital preservation strategy and policy", SKILL),
    choice("2", "Skill level: File formats and their risks", SKILL),
    choice("3", "Skill level: Metadata standards", SKILL),
    choice("4", "Skill level: Storage and infrastructure", SKILL),
    choice("5", "Skill level: Checksums and fixity checking", SKILL),
    choice("6", "Skill level: Migration and emulation", SKILL),
    choice("7", "Skill level: Digitisation", SKILL),
    choice("8", "Skill level: Information security", SKILL),
    choice("9", "Skill level: Rights and access management", SKILL),
    choice("10", "Skill level: Scripting and automation", SKILL),
];

impl Question {
    /// In the order the report and CSV list them.
    pub const ALL: [Question; 9] = [
        Question::DigitalObject,
        Question::StorageMedium,
        Question::Checksum,
        Question::RepAndRefresh,
        Question::OpEnvironment,
        Question::PhysicalDisaster,
        Question::SystemSecurity,
        Question::InfoManagement,
        Question::TechnicalSkills,
    ];

    /// Its key in `response`, which is also its node in the network.
    pub fn key(self) -> &'static str {
        match self {
            Question::DigitalObject => "Digital_Object",
            Question::StorageMedium => "Storage_Medium",
            Question::Checksum => "Checksum",
            Question::RepAndRefresh => "Rep_and_Refresh",
            Question::OpEnvironment => "Op_Environment",
            Question::PhysicalDisaster => "Physical_Disaster",
            Question::SystemSecurity => "System_Security",
            Question::InfoManagement => "Info_Management",
            Question::TechnicalSkills => "Technical_Skills",
        }
    }

    pub fn from_key(key: &str) -> Option<Question> {
        Question::ALL.into_iter().find(|q| q.key() == key)
    }

    /// Its heading in the report and CSV.
    pub fn topic(self) -> &'static str {
        match self {
            Question::DigitalObject => "Digital object type",
            Question::StorageMedium => "Storage medium",
            Question::Checksum => "Checksums",
            Question::RepAndRefresh => "Replication and refreshment",
            Question::OpEnvironment => "Operating environment",
            Question::PhysicalDisaster => "Physical disaster risk",
            Question::SystemSecurity => "System security",
            Question::InfoManagement => "Information management",
            Question::TechnicalSkills => "Technical skills",
        }
    }

    /// Whether its percentages must sum to 100.
    pub fn is_triple(self) -> bool {
        matches!(self, Question::DigitalObject | Question::StorageMedium | Question::Checksum)
    }

    fn shape(self) -> Shape {
        match self {
            Question::PhysicalDisaster => Shape::Single,
            Question::InfoManagement => Shape::LastNested,
            _ => Shape::Parts,
        }
    }

    /// Its parts, in order.
    pub fn parts(self) -> &'static [Part] {
        const DIGITAL_OBJECT: [Part; 3] = [
            pct("born_digital", "Share of the collection that was born digital"),
            pct("digitised", "Share digitised from physical originals"),
            pct("surrogate", "Share that are digital surrogates"),
        ];
        const STORAGE: [Part; 3] = [
            pct("less_stable", "Share on less stable media (optical discs, portable drives)"),
            pct("more_stable", "Share on more stable media (managed servers, tape)"),
            pct("outsourced", "Share in outsourced storage (a preservation or cloud service)"),
        ];
        const CHECKSUM: [Part; 3] = [
            pct("yes", "Share with checksums received from the creator and checked"),
            pct("self_generated", "Share with checksums generated on ingest"),
            pct("no", "Share with no checksums"),
        ];
        const REP: [Part; 2] =
            [pct("1", "Share of the collection held in more than one copy"), pct("2", "Share of copies checked and refreshed on schedule")];
        const OP: [Part; 2] = [
            pct("1", "Share of the collection in a controlled, monitored environment"),
            choice("2", "Is the storage environment protected against fire, flood and power failure?", OFFSITE),
        ];
        const DISASTER_PARTS: [Part; 1] = [choice("1", "How likely is a flood, fire or other disaster at the storage site?", DISASTER)];
        const SECURITY: [Part; 4] = [
            choice("1", "Security certification held", CERTIFICATION),
            choice("2", "Outcome of the last penetration test", PEN_TEST),
            choice("3", "NDSA level met for information security", NDSA),
            choice("4", "Are files checked for viruses?", YES_NO),
        ];
        const INFO: [Part; 4] = [
            choice("1", "NDSA level met for metadata", NDSA),
            choice("2", "NDSA level met for content", NDSA),
            choice("3.1", "Capability: knowing what the collection holds", CAPABILITY),
            choice("3.2", "Capability: managing information about the collection", CAPABILITY),
        ];
        match self {
            Question::DigitalObject => &DIGITAL_OBJECT,
            Question::StorageMedium => &STORAGE,
            Question::Checksum => &CHECKSUM,
            Question::RepAndRefresh => &REP,
            Question::OpEnvironment => &OP,
            Question::PhysicalDisaster => &DISASTER_PARTS,
            Question::SystemSecurity => &SECURITY,
            Question::InfoManagement => &INFO,
            Question::TechnicalSkills => &SKILLS,
        }
    }
}

/// One part's value: a percentage, or one of the part's options (the option's own text).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PartValue {
    Percent(f64),
    Choice(&'static str),
}

impl PartValue {
    pub fn percent(self) -> f64 {
        match self {
            PartValue::Percent(x) => x,
            PartValue::Choice(_) => 0.0,
        }
    }

    pub fn choice(self) -> &'static str {
        match self {
            PartValue::Choice(s) => s,
            PartValue::Percent(_) => "",
        }
    }

    /// As the report and CSV show it: `40%`, `12.5%`, or the option's text.
    pub fn display(self) -> String {
        match self {
            PartValue::Percent(x) if x.fract() == 0.0 => format!("{x:.0}%"),
            PartValue::Percent(x) => format!("{x}%"),
            PartValue::Choice(s) => s.to_string(),
        }
    }

    fn to_json(self) -> Value {
        match self {
            PartValue::Percent(x) if x.fract() == 0.0 => json!(x as i64),
            PartValue::Percent(x) => json!(x),
            PartValue::Choice(s) => json!(s),
        }
    }
}

/// An answer to one question: one value per part, in [`Question::parts`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub question: Question,
    pub values: Vec<PartValue>,
}

impl Answer {
    /// The answer in `response` shape, as the frontend writes it.
    pub fn to_json(&self) -> Value {
        let v: Vec<Value> = self.values.iter().map(|p| p.to_json()).collect();
        match self.question.shape() {
            Shape::Single => v[0].clone(),
            Shape::LastNested => json!({"1": v[0], "2": v[1], "3": [v[2], v[3]]}),
            Shape::Parts if self.question.is_triple() || self.question == Question::TechnicalSkills => Value::Array(v),
            Shape::Parts => Value::Object(v.into_iter().enumerate().map(|(i, x)| ((i + 1).to_string(), x)).collect()),
        }
    }

    /// Each part with its wording and displayed value.
    pub fn parts(&self) -> impl Iterator<Item = (&'static Part, PartValue)> + '_ {
        self.question.parts().iter().zip(self.values.iter().copied())
    }
}

/// A `response`: the answers given, in question order (an advanced model may leave some out).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    pub answers: Vec<Answer>,
}

impl Response {
    pub fn get(&self, q: Question) -> Option<&Answer> {
        self.answers.iter().find(|a| a.question == q)
    }
}

// ---------------------------------------------------------------------------------------------
// Advanced tables

/// One column of an advanced table as sent: probabilities (a root's table may give a bare
/// number), or a parent's state in each row.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Numbers(Vec<f64>),
    Scalar(f64),
    States(Vec<String>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Numbers(v) => v.len(),
            Column::Scalar(_) => 1,
            Column::States(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A node's probability table, columns in the order they were sent.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvancedTable {
    pub node: String,
    pub columns: Vec<(String, Column)>,
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
struct Ctx<'a> {
    model: &'a str,
    scenario: &'a str,
}

impl Ctx<'_> {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> ModelError {
        ModelError { model: self.model.to_string(), scenario: self.scenario.to_string(), field: field.into(), message: message.into() }
    }
}

fn quoted(options: &[&str]) -> String {
    options.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>().join(", ")
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
            Some(Value::Object(t)) if is_advanced => parse_advanced(t, &cx)?,
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

/// Where in an answer, and what is wrong.
type AnswerErr = (String, String);

/// Sub-answers by position: an array of `n`, or an object keyed "1".."n".
fn positional<'v>(v: &'v Value, n: usize) -> Result<Vec<(&'v Value, String)>, AnswerErr> {
    match v {
        Value::Array(a) if a.len() == n => Ok(a.iter().enumerate().map(|(i, x)| (x, format!("[{i}]"))).collect()),
        Value::Object(o) if o.len() == n => (1..=n)
            .map(|k| {
                let k = k.to_string();
                o.get(&k).map(|x| (x, format!(".{k}"))).ok_or_else(|| (String::new(), format!("part \"{k}\" is missing")))
            })
            .collect(),
        _ => Err((String::new(), format!("must hold {n} parts (an array, or an object keyed \"1\" to \"{n}\"), not {v}"))),
    }
}

fn part_value(part: &Part, v: &Value, at: String) -> Result<PartValue, AnswerErr> {
    match part.kind {
        Kind::Percent => match v.as_f64() {
            Some(x) if (0.0..=100.0).contains(&x) => Ok(PartValue::Percent(x)),
            _ => Err((at, format!("is {v}; it must be a percentage from 0 to 100"))),
        },
        Kind::Choice(options) => match v.as_str().and_then(|s| options.iter().find(|o| **o == s)) {
            Some(o) => Ok(PartValue::Choice(o)),
            None => Err((at, format!("is {v}; expected one of {}", quoted(options)))),
        },
    }
}

/// Parses one answer under its question's rules.
pub fn parse_answer(q: Question, v: &Value) -> Result<Answer, AnswerErr> {
    let parts = q.parts();
    let slots: Vec<(&Value, String)> = match q.shape() {
        Shape::Single => vec![(v, String::new())],
        Shape::Parts => positional(v, parts.len())?,
        Shape::LastNested => {
            let mut top = positional(v, 3)?;
            let (nested, at) = top.pop().expect("three parts");
            let inner = positional(nested, 2).map_err(|(a, m)| (format!("{at}{a}"), m))?;
            top.extend(inner.into_iter().map(|(x, a)| (x, format!("{at}{a}"))));
            top
        }
    };
    let values = parts.iter().zip(slots).map(|(p, (x, at))| part_value(p, x, at)).collect::<Result<Vec<_>, _>>()?;
    if q.is_triple() {
        let sum: f64 = values.iter().map(|p| p.percent()).sum();
        if (sum - 100.0).abs() > TRIPLE_SUM_TOLERANCE {
            let shown = (sum * 1e9).round() / 1e9;
            return Err((String::new(), format!("the three percentages sum to {shown}; they must sum to 100")));
        }
    }
    Ok(Answer { question: q, values })
}

fn parse_advanced(tables: &Map<String, Value>, cx: &Ctx<'_>) -> Result<Vec<AdvancedTable>, ModelError> {
    if tables.len() > MAX_TABLES {
        return Err(cx.err("advanced", format!("holds {} tables; the network has {MAX_TABLES} nodes", tables.len())));
    }
    let mut out = Vec::with_capacity(tables.len());
    for (node, table) in tables {
        let at = format!("advanced.{node}");
        if node.chars().count() > MAX_TABLE_NAME {
            return Err(cx.err(at, format!("node names are at most {MAX_TABLE_NAME} characters")));
        }
        let Value::Object(cols) = table else {
            return Err(cx.err(at, "must be an object (a probability table)"));
        };
        if cols.len() > MAX_COLUMNS {
            return Err(cx.err(at, format!("table is too large to print (at most {MAX_COLUMNS} columns and {MAX_ROWS} rows)")));
        }
        let mut columns = Vec::with_capacity(cols.len());
        for (name, col) in cols {
            let field = format!("{at}.{name}");
            if name.chars().count() > MAX_TABLE_NAME {
                return Err(cx.err(field, format!("state and parent names are at most {MAX_TABLE_NAME} characters")));
            }
            let column = match col {
                Value::Number(n) => Column::Scalar(
                    probability(n.as_f64()).ok_or_else(|| cx.err(&field, format!("is {col}; a probability must be a number from 0 to 1")))?,
                ),
                Value::Array(items) if items.len() > MAX_ROWS => {
                    return Err(cx.err(at, format!("table is too large to print (at most {MAX_COLUMNS} columns and {MAX_ROWS} rows)")));
                }
                Value::Array(items) if items.iter().all(Value::is_string) => Column::States(
                    items
                        .iter()
                        .map(|s| {
                            let s = s.as_str().expect("checked");
                            if s.chars().count() > MAX_TABLE_NAME {
                                Err(cx.err(&field, format!("state names are at most {MAX_TABLE_NAME} characters")))
                            } else {
                                Ok(s.to_string())
                            }
                        })
                        .collect::<Result<_, _>>()?,
                ),
                Value::Array(items) => Column::Numbers(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| {
                            probability(x.as_f64()).ok_or_else(|| {
                                cx.err(
                                    format!("{field}[{i}]"),
                                    format!("is {x}; a column holds probabilities (numbers from 0 to 1) or state names, not both"),
                                )
                            })
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err(cx.err(field, format!("must be a number or an array, not {col}"))),
            };
            columns.push((name.clone(), column));
        }
        if let Some((name, c)) = columns.iter().find(|(_, c)| c.len() != columns[0].1.len()) {
            return Err(cx.err(format!("{at}.{name}"), format!("has {} rows; the table's first column has {}", c.len(), columns[0].1.len())));
        }
        out.push(AdvancedTable { node: node.clone(), columns });
    }
    Ok(out)
}

fn probability(x: Option<f64>) -> Option<f64> {
    // A little above 1 is allowed: the scorer renormalises distributions that sum to within
    // a hundredth of 1, so single entries may be rounded up.
    x.filter(|x| x.is_finite() && (0.0..=1.01).contains(x))
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
            return Err((None, none.err("", format!("holds {} models; at most {MAX_MODELS} fit one report", items.len()))));
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
    use super::*;

    fn model() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/model.json")).unwrap()
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
