//! An advanced model's probability tables, checked for shape (the network checks the rest,
//! in [`crate::scoring`]).

use serde_json::{Map, Value};

use super::{Ctx, ModelError};

/// Limits on an advanced model's tables: DiAGRAM's network has 21 nodes.
const MAX_TABLES: usize = 21;
const MAX_TABLE_NAME: usize = 64;
const MAX_COLUMNS: usize = 12;
const MAX_ROWS: usize = 256;

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

pub(super) fn parse_advanced(tables: &Map<String, Value>, cx: &Ctx<'_>) -> Result<Vec<AdvancedTable>, ModelError> {
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
