//! DiAGRAM's `model/score`: a model object's answers become replaced root priors of the
//! network, and the scores are 100 × P(Intellectual_Control = Yes) and
//! 100 × P(Renderability = Yes), computed exactly with no evidence.
//!
//! Also [`Diagram::improvements`]: for each question, the answer that raises the scores most
//! when only that answer changes.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::bayes::{Network, NodeId, Overrides};

/// The nine questions: root nodes of the network, keys of `response`.
pub const QUESTIONS: [&str; 9] = [
    "Op_Environment",
    "System_Security",
    "Info_Management",
    "Storage_Medium",
    "Rep_and_Refresh",
    "Digital_Object",
    "Checksum",
    "Physical_Disaster",
    "Technical_Skills",
];

/// Each question's node states, in the order its prior lists them.
const QUESTION_STATES: [&[&str]; 9] = [
    &["Yes", "No"],
    &["Good", "Poor"],
    &["Sufficient", "Insufficient"],
    &["A", "B", "C"],
    &["Good", "Poor"],
    &["Born_digital", "Digitised", "Surrogate"],
    &["Yes", "Self_Generated", "No"],
    &["Yes", "No"],
    &["Good", "Poor"],
];

const INTELLECTUAL_CONTROL: &str = "Intellectual_Control";
const RENDERABILITY: &str = "Renderability";

/// How far from 1 an `advanced` distribution may sum and still be accepted (then renormalised).
pub const ADVANCED_SUM_TOLERANCE: f64 = 0.01;
/// How far from 100 a percentage triple may sum: the frontend's percentages are rounded.
pub const TRIPLE_SUM_TOLERANCE: f64 = 1.0;

const SKILL: &[(&str, f64)] = &[
    ("None", 0.0),
    ("Basic", 3.0),
    ("Intermediate", 6.0),
    ("Advanced", 10.0),
];
const ACCREDITATION: &[(&str, f64)] = &[
    ("No", 0.0),
    ("Cyber Essentials", 10.0),
    ("Cyber Essentials Plus", 40.0),
    ("ISO 27001", 70.0),
];
const PEN_TEST: &[(&str, f64)] = &[
    ("No test", 0.0),
    ("Critical issues outstanding", 5.0),
    ("Severe issues outstanding", 10.0),
    ("None, or only minor issues outstanding", 15.0),
];
const NDSA_CONTROL: &[(&str, f64)] = &[
    ("Not achieved", 0.0),
    ("Level 1", 2.0),
    ("Level 2", 4.0),
    ("Level 3", 7.0),
    ("Level 4", 10.0),
];
const VIRUS_CHECK: &[(&str, f64)] = &[("No", 0.0), ("Yes", 5.0)];
const NDSA_METADATA: &[(&str, f64)] = &[
    ("Not achieved", 0.0),
    ("Level 1", 7.0),
    ("Level 2", 14.0),
    ("Level 3", 21.0),
    ("Level 4", 28.0),
];
const NDSA_CONTENT: &[(&str, f64)] = &[
    ("Not achieved", 0.0),
    ("Level 1", 8.0),
    ("Level 2", 16.0),
    ("Level 3", 16.0),
    ("Level 4", 16.0),
];
const CAPABILITY: &[(&str, f64)] = &[
    ("Minimal awareness", 0.0),
    ("Awareness", 7.0),
    ("Basic", 14.0),
    ("Managed", 21.0),
    ("Optimized", 28.0),
];
const DISASTER: &[(&str, f64)] = &[
    ("Very Low", 0.05),
    ("Low", 0.5),
    ("Medium", 2.0),
    ("High", 5.0),
];
const OFFSITE: &[&str] = &["Yes", "No", "Not Applicable - we have copies offsite"];

/// A model object that cannot be scored, naming where: `field` is a dotted path such as
/// `response.System_Security.1` or `advanced.Integrity`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("model `{model}`, scenario `{scenario}`, `{field}`: {message}")]
pub struct ScoreError {
    pub model: String,
    pub scenario: String,
    pub field: String,
    pub message: String,
}

/// The network lacks something DiAGRAM's mapping needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("network `{network}` does not have DiAGRAM's shape: {message}")]
pub struct StructureError {
    pub network: String,
    pub message: String,
}

/// The answer of `model/score`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub intellectual_control: f64,
    pub renderability: f64,
    /// Every node's table after replacement, in the shape of a model's `advanced`.
    pub nodes: Map<String, Value>,
}

impl Score {
    /// The old backend's output rounded every number (to 4 decimals); scores here are exact.
    pub fn rounded(&self, decimals: i32) -> Score {
        let scale = 10f64.powi(decimals);
        let round = |x: f64| (x * scale).round() / scale;
        Score {
            intellectual_control: round(self.intellectual_control),
            renderability: round(self.renderability),
            nodes: self
                .nodes
                .iter()
                .map(|(k, v)| (k.clone(), round_numbers(v, &round)))
                .collect(),
        }
    }
}

fn round_numbers(value: &Value, round: &impl Fn(f64) -> f64) -> Value {
    match value {
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| value.clone(), |x| json!(round(x))),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| round_numbers(v, round)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), round_numbers(v, round)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// One question's best single change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Improvement {
    pub question: String,
    /// The answer, in `response` shape, that maximises the sum of the two scores.
    pub answer: Value,
    /// Scores with only this answer changed.
    pub intellectual_control: f64,
    pub renderability: f64,
    pub gain_intellectual_control: f64,
    pub gain_renderability: f64,
}

impl Improvement {
    pub fn total_gain(&self) -> f64 {
        self.gain_intellectual_control + self.gain_renderability
    }
}

/// The setting that names the network file.
pub const MODEL_ENV: &str = "REPORTQ_DIAGRAM_MODEL";

/// What a caller is told when no network is configured (the API answers 503 with it).
pub const NOT_CONFIGURED: &str = "no DiAGRAM network is configured: set REPORTQ_DIAGRAM_MODEL to a BIF \
    file (scripts/fetch-diagram-model.sh downloads DiAGRAM's own model.bif, under its non-commercial licence)";

impl Diagram {
    /// Loads and checks the network at `path`, naming the file in any error.
    pub fn load(path: &std::path::Path) -> Result<Diagram, String> {
        let network = Network::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Diagram::new(Arc::new(network)).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The network named by `REPORTQ_DIAGRAM_MODEL`, if set. A set but broken path is an error
    /// (at start-up), never a silent fallback to no scoring.
    pub fn from_env() -> Result<Option<Arc<Diagram>>, String> {
        match std::env::var_os(MODEL_ENV).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(p) => Diagram::load(std::path::Path::new(&p)).map(|d| Some(Arc::new(d))),
        }
    }
}

/// A loaded network checked for DiAGRAM's questions and scores; cheap to clone and share.
#[derive(Clone, Debug)]
pub struct Diagram {
    network: Arc<Network>,
    questions: [NodeId; 9],
    intellectual_control: (NodeId, usize),
    renderability: (NodeId, usize),
}

/// Names a model in error messages.
struct Context<'a> {
    model: &'a str,
    scenario: &'a str,
}

impl Context<'_> {
    fn error(&self, field: impl Into<String>, message: impl Into<String>) -> ScoreError {
        ScoreError {
            model: self.model.to_owned(),
            scenario: self.scenario.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl Diagram {
    /// Checks that `network` has the nine questions as roots with DiAGRAM's states (so answers
    /// map onto them) and the two score nodes with a `Yes` state.
    pub fn new(network: Arc<Network>) -> Result<Diagram, StructureError> {
        let fail = |message: String| StructureError {
            network: network.name().to_owned(),
            message,
        };
        let mut questions = Vec::with_capacity(QUESTIONS.len());
        for (&name, &states) in QUESTIONS.iter().zip(&QUESTION_STATES) {
            let id = network
                .node(name)
                .ok_or_else(|| fail(format!("no node `{name}`")))?;
            if !network.parents(id).is_empty() {
                return Err(fail(format!(
                    "`{name}` has parents; a question must be a root"
                )));
            }
            if network.states(id) != states {
                return Err(fail(format!(
                    "`{name}` has states {:?}, expected {states:?}",
                    network.states(id)
                )));
            }
            questions.push(id);
        }
        let questions: [NodeId; 9] = questions.try_into().expect("one per question");
        let score_node = |name: &str| {
            let id = network
                .node(name)
                .ok_or_else(|| fail(format!("no node `{name}`")))?;
            let yes = network
                .state_index(id, "Yes")
                .ok_or_else(|| fail(format!("`{name}` has no state `Yes`")))?;
            Ok::<_, StructureError>((id, yes))
        };
        let intellectual_control = score_node(INTELLECTUAL_CONTROL)?;
        let renderability = score_node(RENDERABILITY)?;
        Ok(Diagram {
            network,
            questions,
            intellectual_control,
            renderability,
        })
    }

    pub fn network(&self) -> &Arc<Network> {
        &self.network
    }

    /// Scores one model object (or an array holding exactly one).
    pub fn score(&self, model: &Value) -> Result<Score, ScoreError> {
        let (context, request) = read_model(model)?;
        let (overrides, _) = self.overrides(&context, &request)?;
        let (intellectual_control, renderability) = self.scores(&overrides);
        let nodes = self
            .network
            .node_ids()
            .map(|id| {
                (
                    self.network.node_name(id).to_owned(),
                    self.table_json(id, &overrides),
                )
            })
            .collect();
        Ok(Score {
            intellectual_control,
            renderability,
            nodes,
        })
    }

    /// For every question the model's `advanced` tables leave in force: the answer that
    /// maximises intellectual control + renderability with every other answer unchanged, and
    /// the gains; the largest total gain first.
    pub fn improvements(&self, model: &Value) -> Result<Vec<Improvement>, ScoreError> {
        let (context, request) = read_model(model)?;
        let (mut overrides, advanced_nodes) = self.overrides(&context, &request)?;
        let (base_ic, base_r) = self.scores(&overrides);
        let mut out = Vec::new();
        for (k, &id) in self.questions.iter().enumerate() {
            if advanced_nodes.contains(&id) {
                continue;
            }
            let current = overrides.remove(id);
            let mut best: Option<Improvement> = None;
            for (answer, prior) in candidates(k) {
                overrides
                    .set(&self.network, id, prior)
                    .expect("candidate priors are distributions");
                let (ic, r) = self.scores(&overrides);
                if best
                    .as_ref()
                    .is_none_or(|b| ic + r > b.intellectual_control + b.renderability)
                {
                    best = Some(Improvement {
                        question: QUESTIONS[k].to_owned(),
                        answer,
                        intellectual_control: ic,
                        renderability: r,
                        gain_intellectual_control: ic - base_ic,
                        gain_renderability: r - base_r,
                    });
                }
            }
            overrides.remove(id);
            if let Some(table) = current {
                overrides
                    .set(&self.network, id, table)
                    .expect("was accepted before");
            }
            out.extend(best);
        }
        // Stable sort: equal gains keep question order.
        out.sort_by(|a, b| b.total_gain().total_cmp(&a.total_gain()));
        Ok(out)
    }

    fn scores(&self, overrides: &Overrides) -> (f64, f64) {
        let score = |(id, yes): (NodeId, usize)| {
            100.0
                * self
                    .network
                    .marginal_with(overrides, id)
                    .expect("overrides were checked against this network")[yes]
        };
        (score(self.intellectual_control), score(self.renderability))
    }

    /// The priors from `response`, then `advanced` on top (it wins where both name a node).
    /// Also returns the nodes `advanced` replaced.
    fn overrides(
        &self,
        context: &Context<'_>,
        request: &Request<'_>,
    ) -> Result<(Overrides, Vec<NodeId>), ScoreError> {
        let mut overrides = Overrides::new();
        let mut advanced_nodes = Vec::with_capacity(request.advanced.len());
        for (key, answer) in request.response {
            let k = QUESTIONS.iter().position(|q| q == key).ok_or_else(|| {
                context.error(format!("response.{key}"), "not a DiAGRAM question")
            })?;
            let prior = answer_prior(k, answer, context, &format!("response.{key}"))?;
            self.set(
                &mut overrides,
                self.questions[k],
                prior,
                context,
                &format!("response.{key}"),
            )?;
        }
        for (key, table) in request.advanced {
            let field = format!("advanced.{key}");
            let id = self
                .network
                .node(&key.replace(' ', "_"))
                .ok_or_else(|| context.error(&field, "not a node of the network"))?;
            let table = self.advanced_table(id, table, context, &field)?;
            self.set(&mut overrides, id, table, context, &field)?;
            advanced_nodes.push(id);
        }
        Ok((overrides, advanced_nodes))
    }

    fn set(
        &self,
        overrides: &mut Overrides,
        id: NodeId,
        table: Vec<f64>,
        context: &Context<'_>,
        field: &str,
    ) -> Result<(), ScoreError> {
        overrides
            .set(&self.network, id, table)
            .map_err(|e| context.error(field, e.to_string()))
    }

    /// Reads one `advanced` table: rows matched by state names (spaces as `_`), each
    /// distribution within [`ADVANCED_SUM_TOLERANCE`] of 1 and renormalised.
    fn advanced_table(
        &self,
        id: NodeId,
        table: &Value,
        context: &Context<'_>,
        field: &str,
    ) -> Result<Vec<f64>, ScoreError> {
        let net = &*self.network;
        let node = net.node_name(id);
        let err = |message: String| context.error(field, message);
        let columns = table
            .as_object()
            .ok_or_else(|| err("expected an object of columns".into()))?;
        let own = net.states(id);
        let parents = net.parents(id);
        let normal = |k: &str| k.replace(' ', "_");

        for key in columns.keys() {
            let name = normal(key);
            if !own.contains(&name) && !parents.iter().any(|&p| net.node_name(p) == name) {
                return Err(err(format!(
                    "`{key}` is neither a state of `{node}` nor one of its parents"
                )));
            }
        }
        let column = |name: &str| {
            columns
                .iter()
                .find(|(k, _)| normal(k) == name)
                .map(|(_, v)| v)
                .ok_or_else(|| err(format!("missing column `{name}`")))
        };
        let rows = net.rows(id);
        let width = own.len();
        // A root's table may be plain numbers; anything else is one array entry per row.
        let as_rows = |value: &Value, name: &str| -> Result<Vec<Value>, ScoreError> {
            match value {
                Value::Array(items) => Ok(items.clone()),
                Value::Number(_) if parents.is_empty() => Ok(vec![value.clone()]),
                _ => Err(err(format!("column `{name}` must be an array"))),
            }
        };
        let own_columns = own
            .iter()
            .map(|s| as_rows(column(s)?, s))
            .collect::<Result<Vec<_>, _>>()?;
        let parent_columns = parents
            .iter()
            .map(|&p| as_rows(column(net.node_name(p))?, net.node_name(p)))
            .collect::<Result<Vec<_>, _>>()?;
        let length = own_columns[0].len();
        if let Some(c) = own_columns
            .iter()
            .chain(&parent_columns)
            .find(|c| c.len() != length)
        {
            return Err(err(format!(
                "columns have different lengths ({} and {length})",
                c.len()
            )));
        }

        let mut out = vec![0.0; rows * width];
        let mut seen = vec![false; rows];
        for r in 0..length {
            let mut row = 0;
            let mut names = Vec::with_capacity(parents.len());
            for (&p, col) in parents.iter().zip(&parent_columns) {
                let state = col[r].as_str().map(normal).ok_or_else(|| {
                    err(format!(
                        "row {}: `{}` must be a state name",
                        r + 1,
                        net.node_name(p)
                    ))
                })?;
                let s = net.state_index(p, &state).ok_or_else(|| {
                    err(format!(
                        "row {}: `{state}` is not a state of `{}`",
                        r + 1,
                        net.node_name(p)
                    ))
                })?;
                row = row * net.states(p).len() + s;
                names.push(state);
            }
            let label = if parents.is_empty() {
                "the prior".to_owned()
            } else {
                format!("row ({})", names.join(", "))
            };
            if std::mem::replace(&mut seen[row], true) {
                return Err(err(format!("{label} is given twice")));
            }
            let values = own_columns
                .iter()
                .zip(own)
                .map(|(col, s)| match col[r].as_f64() {
                    Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
                    _ => Err(err(format!(
                        "{label}: `{s}` must be a probability, got {}",
                        col[r]
                    ))),
                })
                .collect::<Result<Vec<f64>, _>>()?;
            let sum: f64 = values.iter().sum();
            if (sum - 1.0).abs() > ADVANCED_SUM_TOLERANCE {
                // Rounded so 0.77 + 0.16 reads as 0.93, not 0.9299999999999999.
                let shown = (sum * 1e9).round() / 1e9;
                return Err(err(format!(
                    "{label} of `{node}` sums to {shown}, not 1 (within {ADVANCED_SUM_TOLERANCE})"
                )));
            }
            for (slot, v) in out[row * width..(row + 1) * width].iter_mut().zip(values) {
                *slot = v / sum;
            }
        }
        if let Some(r) = seen.iter().position(|s| !s) {
            let names = net.row_states(id, r).join(", ");
            let missing = seen.iter().filter(|s| !**s).count();
            return Err(err(format!(
                "missing {missing} row(s) of `{node}`, e.g. ({names})"
            )));
        }
        Ok(out)
    }

    /// A table in `advanced` shape: a root as `{state: p}`, otherwise one column per parent
    /// (its state in each row) and one per own state.
    fn table_json(&self, id: NodeId, overrides: &Overrides) -> Value {
        let net = &*self.network;
        let table = overrides.get(id).unwrap_or_else(|| net.cpt(id));
        let own = net.states(id);
        let width = own.len();
        let mut out = Map::new();
        if net.parents(id).is_empty() {
            for (s, &p) in own.iter().zip(table) {
                out.insert(s.clone(), json!(p));
            }
            return Value::Object(out);
        }
        let rows = net.rows(id);
        let combos: Vec<Vec<&str>> = (0..rows).map(|r| net.row_states(id, r)).collect();
        for (k, &p) in net.parents(id).iter().enumerate() {
            out.insert(
                net.node_name(p).to_owned(),
                combos.iter().map(|c| json!(c[k])).collect(),
            );
        }
        for (k, s) in own.iter().enumerate() {
            out.insert(
                s.clone(),
                (0..rows).map(|r| json!(table[r * width + k])).collect(),
            );
        }
        Value::Object(out)
    }
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

struct Request<'a> {
    response: &'a Map<String, Value>,
    advanced: &'a Map<String, Value>,
}

fn read_model(model: &Value) -> Result<(Context<'_>, Request<'_>), ScoreError> {
    let unnamed = Context {
        model: "",
        scenario: "",
    };
    let model = match model {
        Value::Array(items) if items.len() == 1 => &items[0],
        Value::Array(items) => {
            return Err(unnamed.error(
                "",
                format!("expected one model object, got an array of {}", items.len()),
            ));
        }
        other => other,
    };
    let object = model
        .as_object()
        .ok_or_else(|| unnamed.error("", "expected a model object"))?;
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let context = Context {
        model: text("model_name").unwrap_or(""),
        scenario: text("scenario").unwrap_or(""),
    };
    for key in ["model_name", "scenario"] {
        if text(key).is_none() {
            return Err(context.error(key, "must be a string"));
        }
    }
    let response = object
        .get("response")
        .and_then(Value::as_object)
        .ok_or_else(|| context.error("response", "must be an object of answers"))?;
    let is_advanced = match object.get("is_advanced") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(context.error("is_advanced", "must be true or false")),
    };
    let advanced = if is_advanced {
        object
            .get("advanced")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                context.error(
                    "advanced",
                    "must be an object of probability tables when is_advanced is true",
                )
            })?
    } else {
        &EMPTY
    };
    Ok((context, Request { response, advanced }))
}

/// Binary questions' priors: the first state gets x percent.
fn binary(x: f64) -> Vec<f64> {
    vec![x / 100.0, 1.0 - x / 100.0]
}

/// The root prior that answer `answer` to question `QUESTIONS[k]` stands for.
fn answer_prior(
    k: usize,
    answer: &Value,
    context: &Context<'_>,
    field: &str,
) -> Result<Vec<f64>, ScoreError> {
    let read = Reader {
        context,
        field: field.to_owned(),
    };
    Ok(match QUESTIONS[k] {
        "Op_Environment" => {
            let parts = read.parts(answer, 2)?;
            let percent = read.at(1).percent(parts[0])?;
            let offsite = read.at(2).one_of(parts[1], OFFSITE)?;
            // "Not Applicable - we have copies offsite" counts as "No".
            binary(if percent == 100.0 || offsite == "Yes" {
                100.0
            } else {
                percent
            })
        }
        "System_Security" => {
            let parts = read.parts(answer, 4)?;
            binary(
                read.at(1).scored(parts[0], ACCREDITATION)?
                    + read.at(2).scored(parts[1], PEN_TEST)?
                    + read.at(3).scored(parts[2], NDSA_CONTROL)?
                    + read.at(4).scored(parts[3], VIRUS_CHECK)?,
            )
        }
        "Info_Management" => {
            let parts = read.parts(answer, 3)?;
            let capability = read.at(3);
            let skills = capability.parts(parts[2], 2)?;
            binary(
                read.at(1).scored(parts[0], NDSA_METADATA)?
                    + read.at(2).scored(parts[1], NDSA_CONTENT)?
                    + capability.at(1).scored(skills[0], CAPABILITY)?
                    + capability.at(2).scored(skills[1], CAPABILITY)?,
            )
        }
        "Rep_and_Refresh" => {
            let parts = read.parts(answer, 2)?;
            binary(read.at(1).percent(parts[0])? * read.at(2).percent(parts[1])? / 100.0)
        }
        "Physical_Disaster" => binary(read.scored(answer, DISASTER)?),
        "Technical_Skills" => {
            let parts = read.parts(answer, 10)?;
            let mut x = 0.0;
            for (i, part) in parts.into_iter().enumerate() {
                x += read.at(i + 1).scored(part, SKILL)?;
            }
            binary(x)
        }
        // Storage_Medium, Digital_Object, Checksum: three percentages summing to 100.
        _ => {
            let parts = read.parts(answer, 3)?;
            let mut values = Vec::with_capacity(3);
            for (i, part) in parts.into_iter().enumerate() {
                values.push(read.at(i + 1).percent(part)?);
            }
            let sum: f64 = values.iter().sum();
            if (sum - 100.0).abs() > TRIPLE_SUM_TOLERANCE {
                return Err(context.error(field, format!("percentages sum to {sum}, not 100")));
            }
            // Dividing by the sum (not 100) absorbs the frontend's rounding; at 100 it is the same.
            values.into_iter().map(|v| v / sum).collect()
        }
    })
}

/// Reads parts of one answer, naming the part in errors.
struct Reader<'a> {
    context: &'a Context<'a>,
    field: String,
}

impl Reader<'_> {
    fn at(&self, part: usize) -> Reader<'_> {
        Reader {
            context: self.context,
            field: format!("{}.{part}", self.field),
        }
    }

    fn error(&self, message: impl Into<String>) -> ScoreError {
        self.context.error(&self.field, message)
    }

    /// Sub-answers by position: an array of `n`, or an object keyed "1".."n".
    fn parts<'v>(&self, value: &'v Value, n: usize) -> Result<Vec<&'v Value>, ScoreError> {
        match value {
            Value::Array(items) if items.len() == n => Ok(items.iter().collect()),
            Value::Object(map) if map.len() == n => (1..=n)
                .map(|i| {
                    map.get(&i.to_string())
                        .ok_or_else(|| self.error(format!("missing part \"{i}\"")))
                })
                .collect(),
            _ => Err(self.error(format!(
                "expected {n} parts (an array, or an object keyed \"1\"..\"{n}\"), got {value}"
            ))),
        }
    }

    fn percent(&self, value: &Value) -> Result<f64, ScoreError> {
        match value.as_f64() {
            Some(x) if (0.0..=100.0).contains(&x) => Ok(x),
            _ => Err(self.error(format!("expected a percentage 0-100, got {value}"))),
        }
    }

    fn one_of<'o>(&self, value: &Value, options: &[&'o str]) -> Result<&'o str, ScoreError> {
        value
            .as_str()
            .and_then(|s| options.iter().find(|o| **o == s).copied())
            .ok_or_else(|| {
                self.error(format!(
                    "expected one of {}, got {value}",
                    quoted(options.iter().copied())
                ))
            })
    }

    fn scored(&self, value: &Value, options: &[(&str, f64)]) -> Result<f64, ScoreError> {
        value
            .as_str()
            .and_then(|s| options.iter().find(|(o, _)| *o == s))
            .map(|(_, x)| *x)
            .ok_or_else(|| {
                self.error(format!(
                    "expected one of {}, got {value}",
                    quoted(options.iter().map(|(o, _)| *o))
                ))
            })
    }
}

fn quoted<'a>(options: impl Iterator<Item = &'a str>) -> String {
    options
        .map(|o| format!("\"{o}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The answers worth trying for question `QUESTIONS[k]`, with their priors.
///
/// With no evidence, each score is a sum over the joint in which a root's prior appears exactly
/// once per term, so a score is *linear* in each root's prior. Over everything a question can
/// be answered with, the best is therefore at an extreme: the lowest or highest x for
/// binary-mapped questions (every answer's x lies between the two listed here), and one of
/// the three all-in-one allocations for percentage triples. Trying these is exact, not a sample.
fn candidates(k: usize) -> Vec<(Value, Vec<f64>)> {
    let pair = |best: Value, best_x: f64, worst: Value, worst_x: f64| {
        vec![(best, binary(best_x)), (worst, binary(worst_x))]
    };
    match QUESTIONS[k] {
        "Op_Environment" => pair(
            json!({"1": 100, "2": "Yes"}),
            100.0,
            json!({"1": 0, "2": "No"}),
            0.0,
        ),
        "System_Security" => pair(
            json!({"1": "ISO 27001", "2": "None, or only minor issues outstanding", "3": "Level 4", "4": "Yes"}),
            100.0,
            json!({"1": "No", "2": "No test", "3": "Not achieved", "4": "No"}),
            0.0,
        ),
        "Info_Management" => pair(
            json!({"1": "Level 4", "2": "Level 4", "3": ["Optimized", "Optimized"]}),
            100.0,
            json!({"1": "Not achieved", "2": "Not achieved", "3": ["Minimal awareness", "Minimal awareness"]}),
            0.0,
        ),
        "Rep_and_Refresh" => pair(
            json!({"1": 100, "2": 100}),
            100.0,
            json!({"1": 0, "2": 0}),
            0.0,
        ),
        "Physical_Disaster" => pair(json!("Very Low"), 0.05, json!("High"), 5.0),
        "Technical_Skills" => pair(
            json!(vec!["Advanced"; 10]),
            100.0,
            json!(vec!["None"; 10]),
            0.0,
        ),
        _ => (0..3)
            .map(|i| {
                let mut prior = vec![0.0; 3];
                prior[i] = 1.0;
                let answer: Vec<u32> = prior
                    .iter()
                    .map(|&p| if p == 1.0 { 100 } else { 0 })
                    .collect();
                (json!(answer), prior)
            })
            .collect(),
    }
}
