//! Discrete Bayesian networks: a BIF reader ([`bif`]) and exact inference ([`infer`]).
//!
//! A [`Network`] is immutable once built, so one loaded copy can be shared (`Arc<Network>`)
//! between requests. Per-request changes (new root priors, replaced tables) go in a small
//! [`Overrides`] map that inference reads *instead of* the network's own table, so nothing is
//! copied or re-parsed.

pub mod bif;
mod infer;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

/// How far a distribution may stray from summing to 1 before it is refused.
pub const SUM_TOLERANCE: f64 = 1e-6;

/// A node of one [`Network`]: an index into its node list, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(usize);

impl NodeId {
    /// Position of the node in its network's file order.
    pub fn index(self) -> usize {
        self.0
    }
}

/// One node as given to [`Network::new`].
///
/// `cpt` holds one row per combination of parent states, rows ordered with the *last*
/// parent varying fastest (the order BIF files list them in), each row one probability per own
/// state. A root has a single row.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSpec {
    pub name: String,
    pub states: Vec<String>,
    pub parents: Vec<String>,
    pub cpt: Vec<f64>,
}

/// Everything that can make a network (or a table for it) unacceptable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BayesError {
    #[error("line {line}, column {column}: expected {expected}{found}")]
    Syntax {
        line: usize,
        column: usize,
        expected: String,
        /// What stood there instead, already formatted (`", found ..."`), or empty.
        found: String,
    },
    #[error("could not read {path}: {message}")]
    Io { path: String, message: String },
    #[error("variable `{node}` is declared twice")]
    DuplicateVariable { node: String },
    #[error("variable `{node}` declares {declared} states but lists {listed}")]
    StateCount { node: String, declared: usize, listed: usize },
    #[error("variable `{node}` lists state `{state}` twice")]
    DuplicateState { node: String, state: String },
    #[error("node `{node}`: unknown variable `{name}`{at}")]
    UnknownVariable { node: String, name: String, at: Location },
    #[error("node `{node}`: `{state}` is not a state of `{variable}`{at}")]
    UnknownState { node: String, variable: String, state: String, at: Location },
    #[error("node `{node}`: expected {expected} values, found {found}{at}")]
    RowLength { node: String, expected: usize, found: usize, at: Location },
    #[error("node `{node}`: row names {found} parent states, expected {expected}{at}")]
    RowKey { node: String, expected: usize, found: usize, at: Location },
    #[error("node `{node}`: no probabilities for {missing}")]
    MissingRows { node: String, missing: String },
    #[error("node `{node}`: row ({row}) is given twice{at}")]
    DuplicateRow { node: String, row: String, at: Location },
    #[error("node `{node}`: probabilities are given twice")]
    DuplicateTable { node: String },
    #[error("node `{node}`: distribution {row} sums to {sum}, not 1")]
    BadSum { node: String, row: String, sum: f64 },
    #[error("node `{node}`: probability {value} in {row} is not within 0..1")]
    BadProbability { node: String, row: String, value: f64 },
    #[error("node `{node}` is its own ancestor (cycle: {cycle})")]
    Cycle { node: String, cycle: String },
    #[error("node `{node}`: table has {found} numbers, expected {expected}")]
    TableShape { node: String, expected: usize, found: usize },
}

/// Where in a BIF file something was found; prints as `" (line L, column C)"` or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub(crate) fn from_offset(text: &str, offset: usize) -> Location {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location { line, column: before[line_start..].chars().count() + 1 }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 { Ok(()) } else { write!(f, " (line {}, column {})", self.line, self.column) }
    }
}

#[derive(Debug)]
struct Node {
    name: String,
    states: Vec<String>,
    parents: Vec<NodeId>,
    cpt: Vec<f64>,
}

/// A validated discrete Bayesian network: a DAG whose every table is complete and sums to 1.
pub struct Network {
    name: String,
    nodes: Vec<Node>,
    by_name: HashMap<String, NodeId>,
    /// Elimination plans depend only on the structure, so each node's is built on first use
    /// and kept; overrides change numbers, never shapes.
    plans: Vec<OnceLock<infer::Plan>>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network").field("name", &self.name).field("nodes", &self.nodes).finish_non_exhaustive()
    }
}

impl Network {
    /// Builds a network, refusing unknown parents, cycles, tables of the wrong size and rows
    /// that are not distributions.
    pub fn new(name: impl Into<String>, specs: Vec<NodeSpec>) -> Result<Network, BayesError> {
        let mut by_name = HashMap::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            if by_name.insert(spec.name.clone(), NodeId(i)).is_some() {
                return Err(BayesError::DuplicateVariable { node: spec.name.clone() });
            }
            let mut seen = std::collections::HashSet::new();
            for state in &spec.states {
                if !seen.insert(state) {
                    return Err(BayesError::DuplicateState { node: spec.name.clone(), state: state.clone() });
                }
            }
        }
        let mut nodes = Vec::with_capacity(specs.len());
        for spec in specs {
            let parents = spec
                .parents
                .iter()
                .map(|p| {
                    by_name.get(p).copied().ok_or_else(|| BayesError::UnknownVariable {
                        node: spec.name.clone(),
                        name: p.clone(),
                        at: Location::default(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            nodes.push(Node { name: spec.name, states: spec.states, parents, cpt: spec.cpt });
        }
        let mut network = Network { name: name.into(), nodes, by_name, plans: Vec::new() };
        network.check_acyclic()?;
        for id in network.node_ids() {
            network.check_table(id, network.cpt(id))?;
        }
        network.plans = (0..network.nodes.len()).map(|_| OnceLock::new()).collect();
        Ok(network)
    }

    /// Reads a BIF file.
    pub fn load(path: impl AsRef<Path>) -> Result<Network, BayesError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| BayesError::Io { path: path.display().to_string(), message: e.to_string() })?;
        bif::parse(&text)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    /// All nodes in file order.
    pub fn node_ids(&self) -> impl ExactSizeIterator<Item = NodeId> + use<> {
        (0..self.nodes.len()).map(NodeId)
    }

    pub fn node_name(&self, id: NodeId) -> &str {
        &self.nodes[id.0].name
    }

    pub fn states(&self, id: NodeId) -> &[String] {
        &self.nodes[id.0].states
    }

    pub fn state_index(&self, id: NodeId, state: &str) -> Option<usize> {
        self.nodes[id.0].states.iter().position(|s| s == state)
    }

    pub fn parents(&self, id: NodeId) -> &[NodeId] {
        &self.nodes[id.0].parents
    }

    /// The node's table as read: rows per parent combination (last parent fastest).
    pub fn cpt(&self, id: NodeId) -> &[f64] {
        &self.nodes[id.0].cpt
    }

    /// Number of rows (parent-state combinations) of a node's table.
    pub fn rows(&self, id: NodeId) -> usize {
        self.parents(id).iter().map(|&p| self.states(p).len()).product()
    }

    /// The parent states of row `row` of `id`'s table, in parent order.
    pub fn row_states(&self, id: NodeId, mut row: usize) -> Vec<&str> {
        let parents = self.parents(id);
        let mut out = vec![""; parents.len()];
        for (slot, &p) in out.iter_mut().zip(parents).rev() {
            let states = self.states(p);
            *slot = &states[row % states.len()];
            row /= states.len();
        }
        out
    }

    /// Exact marginal distribution of `id` under the network's own tables.
    pub fn marginal(&self, id: NodeId) -> Vec<f64> {
        self.plan(id).run(self, &Overrides::new())
    }

    /// Exact marginal of `id` with some tables replaced for this call only.
    ///
    /// Fails only when `overrides` was built for a network with different shapes.
    pub fn marginal_with(&self, overrides: &Overrides, id: NodeId) -> Result<Vec<f64>, BayesError> {
        for (node, table) in &overrides.tables {
            let expected = if node.0 < self.nodes.len() { self.rows(*node) * self.states(*node).len() } else { 0 };
            if expected == 0 || table.len() != expected {
                return Err(BayesError::TableShape {
                    node: self.nodes.get(node.0).map_or_else(|| format!("#{}", node.0), |n| n.name.clone()),
                    expected,
                    found: table.len(),
                });
            }
        }
        Ok(self.plan(id).run(self, overrides))
    }

    fn plan(&self, id: NodeId) -> &infer::Plan {
        self.plans[id.0].get_or_init(|| infer::Plan::compile(self, id))
    }

    /// Checks a table's size, that every entry is a probability and each row sums to 1.
    pub fn check_table(&self, id: NodeId, table: &[f64]) -> Result<(), BayesError> {
        let width = self.states(id).len();
        let expected = self.rows(id) * width;
        if table.len() != expected {
            return Err(BayesError::TableShape { node: self.node_name(id).to_owned(), expected, found: table.len() });
        }
        for (r, row) in table.chunks(width).enumerate() {
            let describe = || self.describe_row(id, r);
            if let Some(&value) = row.iter().find(|v| !(0.0..=1.0).contains(*v)) {
                return Err(BayesError::BadProbability { node: self.node_name(id).to_owned(), row: describe(), value });
            }
            let sum: f64 = row.iter().sum();
            if (sum - 1.0).abs() > SUM_TOLERANCE {
                return Err(BayesError::BadSum { node: self.node_name(id).to_owned(), row: describe(), sum });
            }
        }
        Ok(())
    }

    fn describe_row(&self, id: NodeId, row: usize) -> String {
        if self.parents(id).is_empty() { "the prior".to_owned() } else { format!("row ({})", self.row_states(id, row).join(", ")) }
    }

    fn check_acyclic(&self) -> Result<(), BayesError> {
        // Depth-first search with colours; the grey stack is the cycle when we meet grey again.
        #[derive(Clone, Copy, PartialEq)]
        enum Colour {
            White,
            Grey,
            Black,
        }
        let mut colour = vec![Colour::White; self.nodes.len()];
        for start in 0..self.nodes.len() {
            if colour[start] != Colour::White {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            colour[start] = Colour::Grey;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&parent) = self.nodes[node].parents.get(*next) {
                    *next += 1;
                    match colour[parent.0] {
                        Colour::White => {
                            colour[parent.0] = Colour::Grey;
                            stack.push((parent.0, 0));
                        }
                        Colour::Grey => {
                            let from = stack.iter().position(|&(n, _)| n == parent.0).unwrap_or(0);
                            let mut cycle: Vec<&str> = stack[from..].iter().map(|&(n, _)| self.nodes[n].name.as_str()).collect();
                            cycle.push(&self.nodes[parent.0].name);
                            return Err(BayesError::Cycle { node: self.nodes[parent.0].name.clone(), cycle: cycle.join(" <- ") });
                        }
                        Colour::Black => {}
                    }
                } else {
                    colour[node] = Colour::Black;
                    stack.pop();
                }
            }
        }
        Ok(())
    }
}

/// Replacement tables for some nodes, for one inference call.
///
/// Kept as a short vector: a request replaces a handful of tables, and a linear scan of a few
/// entries beats hashing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    tables: Vec<(NodeId, Vec<f64>)>,
}

impl Overrides {
    pub fn new() -> Overrides {
        Overrides::default()
    }

    /// Replaces `id`'s table (same layout as [`Network::cpt`]) after checking it against
    /// `network`; a later `set` of the same node wins.
    pub fn set(&mut self, network: &Network, id: NodeId, table: Vec<f64>) -> Result<(), BayesError> {
        network.check_table(id, &table)?;
        match self.tables.iter_mut().find(|(n, _)| *n == id) {
            Some(entry) => entry.1 = table,
            None => self.tables.push((id, table)),
        }
        Ok(())
    }

    pub fn get(&self, id: NodeId) -> Option<&[f64]> {
        self.tables.iter().find(|(n, _)| *n == id).map(|(_, t)| t.as_slice())
    }

    pub fn remove(&mut self, id: NodeId) -> Option<Vec<f64>> {
        let i = self.tables.iter().position(|(n, _)| *n == id)?;
        Some(self.tables.swap_remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.tables.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &[f64])> {
        self.tables.iter().map(|(n, t)| (*n, t.as_slice()))
    }
}
