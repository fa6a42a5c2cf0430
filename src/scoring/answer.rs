//! What scoring answers: the scores and node tables of `model/score` ([`Score`], in the
//! network's order, rounded as the API rounds), and one ranked change ([`Improvement`]).

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::diagram::{Answer, Question};

/// The answer of `model/score`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub intellectual_control: f64,
    pub renderability: f64,
    /// Every node's table after replacement, in the shape of a model's `advanced`: nodes in
    /// the network's order, each table's parent columns first (in the node's parent order),
    /// then its own states. DiAGRAM's advanced editor lays columns out in key order.
    pub nodes: Ordered<Table>,
}

/// One node's table in `advanced` shape, shared: the tables a model leaves as the network has
/// them are built once per network, not once per score (building them was most of a score's
/// time).
#[derive(Debug, Clone, PartialEq)]
pub struct Table(Arc<Ordered<Value>>);

impl Table {
    pub(super) fn new(table: Ordered<Value>) -> Table {
        Table(Arc::new(table))
    }

    pub(super) fn rounded(&self, round: &impl Fn(f64) -> f64) -> Table {
        Table::new(Ordered(self.0.0.iter().map(|(c, v)| (c.clone(), round_numbers(v, round))).collect()))
    }
}

impl std::ops::Deref for Table {
    type Target = Ordered<Value>;
    fn deref(&self) -> &Ordered<Value> {
        &self.0
    }
}

impl Serialize for Table {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(ser)
    }
}

/// The decimals `/api/model/score` rounds to, as the old backend did.
pub const API_DECIMALS: i32 = 4;

pub(super) fn rounder(decimals: i32) -> impl Fn(f64) -> f64 {
    let scale = 10f64.powi(decimals);
    move |x: f64| (x * scale).round() / scale
}

/// A JSON object that keeps its keys in the order they were made: `serde_json::Map` sorts
/// them, and DiAGRAM's frontend shows them in the order it reads them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Ordered<T> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&T> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

impl<T> std::ops::Index<&str> for Ordered<T> {
    type Output = T;
    fn index(&self, key: &str) -> &T {
        self.get(key).unwrap_or_else(|| panic!("no key {key:?}"))
    }
}

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = ser.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Score {
    /// The old backend's output rounded every number (to 4 decimals); scores here are exact.
    pub fn rounded(&self, decimals: i32) -> Score {
        let round = rounder(decimals);
        Score {
            intellectual_control: round(self.intellectual_control),
            renderability: round(self.renderability),
            nodes: Ordered(self.nodes.0.iter().map(|(k, t)| (k.clone(), t.rounded(&round))).collect()),
        }
    }
}

pub(super) fn round_numbers(value: &Value, round: &impl Fn(f64) -> f64) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map_or_else(|| value.clone(), |x| json!(round(x))),
        Value::Array(items) => Value::Array(items.iter().map(|v| round_numbers(v, round)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), round_numbers(v, round))).collect()),
        other => other.clone(),
    }
}

/// One question's best single change.
#[derive(Debug, Clone, PartialEq)]
pub struct Improvement {
    /// The answer that maximises the sum of the two scores.
    pub answer: Answer,
    /// Scores with only this answer changed.
    pub intellectual_control: f64,
    pub renderability: f64,
    pub gain_intellectual_control: f64,
    pub gain_renderability: f64,
}

impl Improvement {
    pub fn question(&self) -> Question {
        self.answer.question
    }

    pub fn total_gain(&self) -> f64 {
        self.gain_intellectual_control + self.gain_renderability
    }
}

/// On the wire: the question's key and the answer in `response` shape.
impl Serialize for Improvement {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        json!({
            "question": self.question().key(),
            "answer": self.answer.to_json(),
            "intellectual_control": self.intellectual_control,
            "renderability": self.renderability,
            "gain_intellectual_control": self.gain_intellectual_control,
            "gain_renderability": self.gain_renderability,
        })
        .serialize(s)
    }
}
