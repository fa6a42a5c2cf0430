//! DiAGRAM's scoring: a model's answers become replaced root priors of the Bayesian network,
//! its advanced tables replace node tables, and the scores are 100 × P(Intellectual_Control =
//! Yes) and 100 × P(Renderability = Yes), computed exactly with no evidence.
//!
//! Also [`Scorer::improvements`]: for each question, the answer that raises the scores most
//! when only that answer changes. Models come in parsed ([`crate::domain::diagram::Model`]):
//! what is checked here is only what needs the network (node and state names, sums).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::bayes::{Network, NodeId, Overrides};
use crate::domain::diagram::{Answer, Column, Model, ModelError, PartValue, Question};

mod answer;

use answer::rounder;
pub use answer::{API_DECIMALS, Improvement, Ordered, Score, Table};

/// A model the network refuses: the same error type as the model's own rules.
pub type ScoreError = ModelError;

/// How far from 1 an `advanced` distribution may sum and still be accepted (then renormalised).
pub const ADVANCED_SUM_TOLERANCE: f64 = 0.01;

const INTELLECTUAL_CONTROL: &str = "Intellectual_Control";
const RENDERABILITY: &str = "Renderability";

/// Each question's node states, in the order its prior lists them.
fn question_states(q: Question) -> &'static [&'static str] {
    match q {
        Question::OpEnvironment => &["Yes", "No"],
        Question::SystemSecurity => &["Good", "Poor"],
        Question::InfoManagement => &["Sufficient", "Insufficient"],
        Question::StorageMedium => &["A", "B", "C"],
        Question::RepAndRefresh => &["Good", "Poor"],
        Question::DigitalObject => &["Born_digital", "Digitised", "Surrogate"],
        Question::Checksum => &["Yes", "Self_Generated", "No"],
        Question::PhysicalDisaster => &["Yes", "No"],
        Question::TechnicalSkills => &["Good", "Poor"],
    }
}

const SKILL: &[(&str, f64)] = &[("None", 0.0), ("Basic", 3.0), ("Intermediate", 6.0), ("Advanced", 10.0)];
const ACCREDITATION: &[(&str, f64)] = &[("No", 0.0), ("Cyber Essentials", 10.0), ("Cyber Essentials Plus", 40.0), ("ISO 27001", 70.0)];
const PEN_TEST: &[(&str, f64)] =
    &[("No test", 0.0), ("Critical issues outstanding", 5.0), ("Severe issues outstanding", 10.0), ("None, or only minor issues outstanding", 15.0)];
const NDSA_CONTROL: &[(&str, f64)] = &[("Not achieved", 0.0), ("Level 1", 2.0), ("Level 2", 4.0), ("Level 3", 7.0), ("Level 4", 10.0)];
const VIRUS_CHECK: &[(&str, f64)] = &[("No", 0.0), ("Yes", 5.0)];
const NDSA_METADATA: &[(&str, f64)] = &[("Not achieved", 0.0), ("Level 1", 7.0), ("Level 2", 14.0), ("Level 3", 21.0), ("Level 4", 28.0)];
const NDSA_CONTENT: &[(&str, f64)] = &[("Not achieved", 0.0), ("Level 1", 8.0), ("Level 2", 16.0), ("Level 3", 16.0), ("Level 4", 16.0)];
const CAPABILITY: &[(&str, f64)] = &[("Minimal awareness", 0.0), ("Awareness", 7.0), ("Basic", 14.0), ("Managed", 21.0), ("Optimized", 28.0)];
const DISASTER: &[(&str, f64)] = &[("Very Low", 0.05), ("Low", 0.5), ("Medium", 2.0), ("High", 5.0)];
const NONE_WEIGHTS: &[(&str, f64)] = &[];

/// The points an option of a choice part adds to its question's prior.
fn weights(q: Question, part: usize) -> &'static [(&'static str, f64)] {
    match (q, part) {
        (Question::SystemSecurity, 0) => ACCREDITATION,
        (Question::SystemSecurity, 1) => PEN_TEST,
        (Question::SystemSecurity, 2) => NDSA_CONTROL,
        (Question::SystemSecurity, 3) => VIRUS_CHECK,
        (Question::InfoManagement, 0) => NDSA_METADATA,
        (Question::InfoManagement, 1) => NDSA_CONTENT,
        (Question::InfoManagement, _) => CAPABILITY,
        (Question::PhysicalDisaster, _) => DISASTER,
        (Question::TechnicalSkills, _) => SKILL,
        _ => NONE_WEIGHTS,
    }
}

fn weight(q: Question, part: usize, value: PartValue) -> f64 {
    let option = value.choice();
    weights(q, part).iter().find(|(o, _)| *o == option).map(|(_, x)| *x).expect("options and weights are the same lists")
}

/// Binary questions' priors: the first state gets x percent.
fn binary(x: f64) -> Vec<f64> {
    vec![x / 100.0, 1.0 - x / 100.0]
}

/// The root prior an answer stands for. Answers are valid by construction, so this cannot fail.
pub fn answer_prior(a: &Answer) -> Vec<f64> {
    let v = &a.values;
    let sum_weights = || v.iter().enumerate().map(|(i, p)| weight(a.question, i, *p)).sum::<f64>();
    match a.question {
        Question::OpEnvironment => {
            let percent = v[0].percent();
            // "Not Applicable - we have copies offsite" counts as "No".
            binary(if percent == 100.0 || v[1].choice() == "Yes" { 100.0 } else { percent })
        }
        Question::RepAndRefresh => binary(v[0].percent() * v[1].percent() / 100.0),
        Question::SystemSecurity | Question::InfoManagement | Question::PhysicalDisaster | Question::TechnicalSkills => binary(sum_weights()),
        // Three percentages: dividing by their sum (not 100) absorbs the frontend's rounding.
        Question::DigitalObject | Question::StorageMedium | Question::Checksum => {
            let sum: f64 = v.iter().map(|p| p.percent()).sum();
            if sum == 0.0 {
                return vec![1.0 / 3.0; 3];
            }
            v.iter().map(|p| p.percent() / sum).collect()
        }
    }
}

/// The answers worth trying for a question, with their priors.
///
/// With no evidence, each score is a sum over the joint in which a root's prior appears exactly
/// once per term, so a score is *linear* in each root's prior. Over everything a question can
/// be answered with, the best is therefore at an extreme: the lowest or highest x for
/// binary-mapped questions, and one of the three all-in-one allocations for percentage
/// triples. Trying these is exact, not a sample.
fn candidates(q: Question) -> Vec<Answer> {
    use PartValue::{Choice, Percent};
    // Per part, the option with the most and the fewest points.
    let extreme = |best: bool| -> Answer {
        let values = (0..q.parts().len())
            .map(|i| {
                let w = weights(q, i);
                let pick = if best { w.iter().max_by(|a, b| a.1.total_cmp(&b.1)) } else { w.iter().min_by(|a, b| a.1.total_cmp(&b.1)) };
                Choice(pick.expect("choice parts have weights").0)
            })
            .collect();
        Answer { question: q, values }
    };
    let answer = |values: Vec<PartValue>| Answer { question: q, values };
    match q {
        Question::OpEnvironment => vec![answer(vec![Percent(100.0), Choice("Yes")]), answer(vec![Percent(0.0), Choice("No")])],
        Question::RepAndRefresh => vec![answer(vec![Percent(100.0), Percent(100.0)]), answer(vec![Percent(0.0), Percent(0.0)])],
        // Disaster likelihood: fewer points is better (the prior is P(disaster)).
        Question::SystemSecurity | Question::InfoManagement | Question::TechnicalSkills => vec![extreme(true), extreme(false)],
        Question::PhysicalDisaster => vec![extreme(false), extreme(true)],
        Question::DigitalObject | Question::StorageMedium | Question::Checksum => {
            (0..3).map(|i| answer((0..3).map(|j| Percent(if i == j { 100.0 } else { 0.0 })).collect())).collect()
        }
    }
}

/// The setting that names the network file.
pub const MODEL_ENV: &str = "REPORTQ_DIAGRAM_MODEL";

/// Why there is no network to score with: what a caller is told (the API answers 503 with it).
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetworkError {
    #[error(
        "no DiAGRAM network is configured: set REPORTQ_DIAGRAM_MODEL to a BIF file (scripts/fetch-diagram-model.sh downloads DiAGRAM's own model.bif, under its non-commercial licence)"
    )]
    NotConfigured,
    #[error("the DiAGRAM network at {path} could not be loaded: {message}")]
    Broken { path: PathBuf, message: String },
}

/// The one network loader: the network at `path`, checked for DiAGRAM's shape.
pub fn load(path: Option<&Path>) -> Result<Arc<Scorer>, NetworkError> {
    let path = path.ok_or(NetworkError::NotConfigured)?;
    let broken = |message: String| NetworkError::Broken { path: path.to_path_buf(), message };
    let network = Network::load(path).map_err(|e| broken(e.to_string()))?;
    let mut scorer = Scorer::new(Arc::new(network)).map_err(|e| broken(e.to_string()))?;
    // What a report's provenance names: the file as read (another network scores otherwise).
    let bytes = std::fs::read(path).map_err(|e| broken(e.to_string()))?;
    scorer.source_sha256 = Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
    Ok(Arc::new(scorer))
}

/// The network lacks something DiAGRAM's mapping needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("network `{network}` does not have DiAGRAM's shape: {message}")]
pub struct StructureError {
    pub network: String,
    pub message: String,
}

/// A loaded network checked for DiAGRAM's questions and scores; cheap to clone and share.
#[derive(Clone, Debug)]
pub struct Scorer {
    network: Arc<Network>,
    questions: [NodeId; 9],
    intellectual_control: (NodeId, usize),
    renderability: (NodeId, usize),
    /// Each node's own table as JSON, exact and rounded to [`API_DECIMALS`].
    own_tables: Vec<(Table, Table)>,
    /// The SHA-256 of the network file it was loaded from ([`load`]).
    source_sha256: Option<String>,
}

impl Scorer {
    /// The SHA-256 of the network file, when it was loaded from one.
    pub fn source_sha256(&self) -> Option<&str> {
        self.source_sha256.as_deref()
    }

    /// Checks that `network` has the nine questions as roots with DiAGRAM's states (so answers
    /// map onto them) and the two score nodes with a `Yes` state.
    pub fn new(network: Arc<Network>) -> Result<Scorer, StructureError> {
        let fail = |message: String| StructureError { network: network.name().to_owned(), message };
        let mut questions = Vec::with_capacity(9);
        for q in Question::ALL {
            let name = q.key();
            let id = network.node(name).ok_or_else(|| fail(format!("no node `{name}`")))?;
            if !network.parents(id).is_empty() {
                return Err(fail(format!("`{name}` has parents; a question must be a root")));
            }
            let states = question_states(q);
            if network.states(id) != states {
                return Err(fail(format!("`{name}` has states {:?}, expected {states:?}", network.states(id))));
            }
            questions.push(id);
        }
        let questions: [NodeId; 9] = questions.try_into().expect("one per question");
        let score_node = |name: &str| {
            let id = network.node(name).ok_or_else(|| fail(format!("no node `{name}`")))?;
            let yes = network.state_index(id, "Yes").ok_or_else(|| fail(format!("`{name}` has no state `Yes`")))?;
            Ok::<_, StructureError>((id, yes))
        };
        let intellectual_control = score_node(INTELLECTUAL_CONTROL)?;
        let renderability = score_node(RENDERABILITY)?;
        let mut diagram = Scorer { network, questions, intellectual_control, renderability, own_tables: Vec::new(), source_sha256: None };
        let none = Overrides::new();
        let round = rounder(API_DECIMALS);
        diagram.own_tables = diagram
            .network
            .node_ids()
            .map(|id| {
                let exact = Table::new(diagram.table_json(id, &none));
                let rounded = exact.rounded(&round);
                (exact, rounded)
            })
            .collect();
        Ok(diagram)
    }

    pub fn network(&self) -> &Arc<Network> {
        &self.network
    }

    fn node_of(&self, q: Question) -> NodeId {
        self.questions[Question::ALL.iter().position(|x| *x == q).expect("all questions")]
    }

    /// Checks what only the network can: an advanced model's tables name its nodes and states
    /// and hold distributions. Validation runs this wherever a network is configured.
    pub fn check(&self, model: &Model) -> Result<(), ScoreError> {
        self.overrides(model).map(|_| ())
    }

    /// Scores one model.
    pub fn score(&self, model: &Model) -> Result<Score, ScoreError> {
        self.score_with(model, None)
    }

    /// Scores one model with every number rounded to `decimals` (the same as
    /// `score(model)?.rounded(decimals)`, without rounding the tables the model left alone).
    pub fn score_rounded(&self, model: &Model, decimals: i32) -> Result<Score, ScoreError> {
        self.score_with(model, Some(decimals))
    }

    fn score_with(&self, model: &Model, decimals: Option<i32>) -> Result<Score, ScoreError> {
        let (overrides, _) = self.overrides(model)?;
        let (intellectual_control, renderability) = self.scores(&overrides);
        let round = rounder(decimals.unwrap_or(0));
        let nodes = Ordered(
            self.network
                .node_ids()
                .map(|id| {
                    let (exact, rounded) = &self.own_tables[id.index()];
                    let table = match (overrides.get(id), decimals) {
                        (None, None) => exact.clone(),
                        (None, Some(API_DECIMALS)) => rounded.clone(),
                        (None, Some(_)) => exact.rounded(&round),
                        (Some(_), None) => Table::new(self.table_json(id, &overrides)),
                        (Some(_), Some(_)) => Table::new(self.table_json(id, &overrides)).rounded(&round),
                    };
                    (self.network.node_name(id).to_owned(), table)
                })
                .collect(),
        );
        let score = Score { intellectual_control, renderability, nodes };
        Ok(match decimals {
            Some(_) => Score { intellectual_control: round(score.intellectual_control), renderability: round(score.renderability), ..score },
            None => score,
        })
    }

    /// The two scores alone (intellectual control, renderability), without the node tables.
    pub fn scores_of(&self, model: &Model) -> Result<(f64, f64), ScoreError> {
        let (overrides, _) = self.overrides(model)?;
        Ok(self.scores(&overrides))
    }

    /// Parses and scores one model object (or an array holding exactly one), as
    /// `/api/model/score` and `reportq score` do.
    pub fn score_value(&self, value: &Value) -> Result<Score, ScoreError> {
        self.score(&Model::parse_one(value)?)
    }

    /// Parses a model and lists its improvements.
    pub fn improvements_value(&self, value: &Value) -> Result<Vec<Improvement>, ScoreError> {
        self.improvements(&Model::parse_one(value)?)
    }

    /// For every question the model's `advanced` tables leave in force: the answer that
    /// maximises intellectual control + renderability with every other answer unchanged, and
    /// the gains; the largest total gain first.
    pub fn improvements(&self, model: &Model) -> Result<Vec<Improvement>, ScoreError> {
        let (mut overrides, advanced_nodes) = self.overrides(model)?;
        let (base_ic, base_r) = self.scores(&overrides);
        let mut out = Vec::new();
        for q in Question::ALL {
            let id = self.node_of(q);
            if advanced_nodes.contains(&id) {
                continue;
            }
            let current = overrides.remove(id);
            let mut best: Option<Improvement> = None;
            for answer in candidates(q) {
                overrides.set(&self.network, id, answer_prior(&answer)).expect("candidate priors are distributions");
                let (ic, r) = self.scores(&overrides);
                if best.as_ref().is_none_or(|b| ic + r > b.intellectual_control + b.renderability) {
                    best = Some(Improvement {
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
                overrides.set(&self.network, id, table).expect("was accepted before");
            }
            out.extend(best);
        }
        // Stable sort: equal gains keep question order.
        out.sort_by(|a, b| b.total_gain().total_cmp(&a.total_gain()));
        Ok(out)
    }

    fn scores(&self, overrides: &Overrides) -> (f64, f64) {
        let score =
            |(id, yes): (NodeId, usize)| 100.0 * self.network.marginal_with(overrides, id).expect("overrides were checked against this network")[yes];
        (score(self.intellectual_control), score(self.renderability))
    }

    /// The priors from `response`, then `advanced` on top (it wins where both name a node).
    /// Also returns the nodes `advanced` replaced.
    fn overrides(&self, model: &Model) -> Result<(Overrides, Vec<NodeId>), ScoreError> {
        let mut overrides = Overrides::new();
        for a in &model.response.answers {
            let field = format!("response.{}", a.question.key());
            overrides.set(&self.network, self.node_of(a.question), answer_prior(a)).map_err(|e| model.error(&field, e.to_string()))?;
        }
        let mut advanced_nodes = Vec::with_capacity(model.advanced.len());
        for t in &model.advanced {
            let field = format!("advanced.{}", t.node);
            let id = self.network.node(&t.node.replace(' ', "_")).ok_or_else(|| model.error(&field, "not a node of the network"))?;
            let table = self.advanced_table(id, &t.columns).map_err(|m| model.error(&field, m))?;
            overrides.set(&self.network, id, table).map_err(|e| model.error(&field, e.to_string()))?;
            advanced_nodes.push(id);
        }
        Ok((overrides, advanced_nodes))
    }

    /// Reads one `advanced` table: rows matched by state names (spaces as `_`), each
    /// distribution within [`ADVANCED_SUM_TOLERANCE`] of 1 and renormalised.
    fn advanced_table(&self, id: NodeId, columns: &[(String, Column)]) -> Result<Vec<f64>, String> {
        let net = &*self.network;
        let node = net.node_name(id);
        let own = net.states(id);
        let parents = net.parents(id);
        let normal = |k: &str| k.replace(' ', "_");
        for (key, _) in columns {
            let name = normal(key);
            if !own.contains(&name) && !parents.iter().any(|&p| net.node_name(p) == name) {
                return Err(format!("`{key}` is neither a state of `{node}` nor one of its parents"));
            }
        }
        let column = |name: &str| columns.iter().find(|(k, _)| normal(k) == name).map(|(_, v)| v).ok_or_else(|| format!("missing column `{name}`"));
        // A root's table may be plain numbers; anything else is one array entry per row.
        let numbers = |name: &str| -> Result<Vec<f64>, String> {
            match column(name)? {
                Column::Numbers(v) => Ok(v.clone()),
                Column::Scalar(x) if parents.is_empty() => Ok(vec![*x]),
                Column::Scalar(_) => Err(format!("column `{name}` must be an array")),
                Column::States(_) => Err(format!("column `{name}` must hold probabilities")),
            }
        };
        let states = |name: &str| -> Result<Vec<String>, String> {
            match column(name)? {
                Column::States(v) => Ok(v.iter().map(|s| normal(s)).collect()),
                _ => Err(format!("column `{name}` must hold state names of `{name}`")),
            }
        };
        let own_columns = own.iter().map(|s| numbers(s)).collect::<Result<Vec<_>, _>>()?;
        let parent_columns = parents.iter().map(|&p| states(net.node_name(p))).collect::<Result<Vec<_>, _>>()?;
        let rows = net.rows(id);
        let width = own.len();
        let length = own_columns[0].len();
        if let Some(n) = own_columns.iter().map(Vec::len).chain(parent_columns.iter().map(Vec::len)).find(|n| *n != length) {
            return Err(format!("columns have different lengths ({n} and {length})"));
        }
        let mut out = vec![0.0; rows * width];
        let mut seen = vec![false; rows];
        for r in 0..length {
            let mut row = 0;
            let mut names = Vec::with_capacity(parents.len());
            for (&p, col) in parents.iter().zip(&parent_columns) {
                let state = &col[r];
                let s = net.state_index(p, state).ok_or_else(|| format!("row {}: `{state}` is not a state of `{}`", r + 1, net.node_name(p)))?;
                row = row * net.states(p).len() + s;
                names.push(state.as_str());
            }
            let label = if parents.is_empty() { "the prior".to_owned() } else { format!("row ({})", names.join(", ")) };
            if std::mem::replace(&mut seen[row], true) {
                return Err(format!("{label} is given twice"));
            }
            let values: Vec<f64> = own_columns.iter().map(|c| c[r]).collect();
            let sum: f64 = values.iter().sum();
            if (sum - 1.0).abs() > ADVANCED_SUM_TOLERANCE {
                // Rounded so 0.77 + 0.16 reads as 0.93, not 0.9299999999999999.
                let shown = (sum * 1e9).round() / 1e9;
                return Err(format!("{label} of `{node}` sums to {shown}, not 1 (within {ADVANCED_SUM_TOLERANCE})"));
            }
            for (slot, v) in out[row * width..(row + 1) * width].iter_mut().zip(values) {
                *slot = v / sum;
            }
        }
        if let Some(r) = seen.iter().position(|s| !s) {
            let names = net.row_states(id, r).join(", ");
            let missing = seen.iter().filter(|s| !**s).count();
            return Err(format!("missing {missing} row(s) of `{node}`, e.g. ({names})"));
        }
        Ok(out)
    }

    /// A table in `advanced` shape: a root as `{state: p}`, otherwise one column per parent
    /// (its state in each row) and one per own state.
    fn table_json(&self, id: NodeId, overrides: &Overrides) -> Ordered<Value> {
        let net = &*self.network;
        let table = overrides.get(id).unwrap_or_else(|| net.cpt(id));
        let own = net.states(id);
        let width = own.len();
        if net.parents(id).is_empty() {
            return Ordered(own.iter().zip(table).map(|(s, &p)| (s.clone(), json!(p))).collect());
        }
        let rows = net.rows(id);
        let combos: Vec<Vec<&str>> = (0..rows).map(|r| net.row_states(id, r)).collect();
        let mut out = Vec::with_capacity(net.parents(id).len() + width);
        for (k, &p) in net.parents(id).iter().enumerate() {
            out.push((net.node_name(p).to_owned(), combos.iter().map(|c| json!(c[k])).collect()));
        }
        for (k, s) in own.iter().enumerate() {
            out.push((s.clone(), (0..rows).map(|r| json!(table[r * width + k])).collect()));
        }
        Ordered(out)
    }
}
