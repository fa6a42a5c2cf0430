//! Reader for the Bayesian Interchange Format as bnlearn and pgmpy write it.
//!
//! ```text
//! network unknown { property version 1 ; }
//! variable A { type discrete [ 2 ] { a1, a2 }; property x = y ; }
//! probability ( A ) { table 0.3, 0.7; }
//! probability ( B | A ) { (a1) 0.1, 0.9; (a2) 0.5, 0.5; }
//! ```
//!
//! Parsing (winnow) builds a small syntax tree with byte offsets; [`parse`] then resolves names
//! and rows against the declarations so semantic errors can still point at a line.
//!
//! A `table` for a node *with* parents is read the way pgmpy reads and writes it: one run of
//! values per own state (own state slowest), parent combinations inside it (last parent fastest).

use std::collections::HashMap;

use winnow::combinator::{cut_err, delimited, not, opt, preceded, terminated};
use winnow::error::{ContextError, ErrMode, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::stream::Location as _;
use winnow::token::{literal, one_of, take_till, take_until, take_while};
use winnow::{LocatingSlice, ascii};

use super::{BayesError, Location, Network, NodeSpec};

type In<'a> = LocatingSlice<&'a str>;

struct VarDecl {
    name: String,
    declared: usize,
    states: Vec<String>,
}

struct ProbBlock {
    node: (String, usize),
    parents: Vec<(String, usize)>,
    entries: Vec<Entry>,
}

enum Entry {
    Row { states: Vec<(String, usize)>, values: Vec<f64>, pos: usize },
    Table { values: Vec<f64>, pos: usize },
}

enum Block {
    Network,
    Variable(VarDecl),
    Probability(ProbBlock),
}

/// Parses BIF text into a validated [`Network`].
pub fn parse(text: &str) -> Result<Network, BayesError> {
    let (name, blocks) = file.parse(LocatingSlice::new(text)).map_err(|e| syntax_error(text, e.offset(), e.inner()))?;
    build(text, name, blocks)
}

fn syntax_error(text: &str, offset: usize, error: &ContextError) -> BayesError {
    let Location { line, column } = Location::from_offset(text, offset);
    let mut expected: Vec<String> = Vec::new();
    for context in error.context() {
        if let StrContext::Expected(value) = context {
            let value = value.to_string();
            if !expected.contains(&value) {
                expected.push(value);
            }
        }
    }
    let expected = if expected.is_empty() { "valid BIF".to_owned() } else { expected.join(" or ") };
    let rest = text[offset.min(text.len())..].trim_start();
    let found = match rest.split_whitespace().next() {
        None => ", found end of file".to_owned(),
        Some(word) => format!(", found `{}`", word.chars().take(24).collect::<String>()),
    };
    BayesError::Syntax { line, column, expected, found }
}

fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+')
}

/// Whitespace, `// line` and `/* block */` comments.
fn skip(i: &mut In<'_>) -> ModalResult<()> {
    loop {
        ascii::multispace0.parse_next(i)?;
        if i.starts_with("//") {
            take_till(0.., '\n').parse_next(i)?;
        } else if i.starts_with("/*") {
            ("/*", cut_err(take_until(0.., "*/").context(expected("`*/` closing the comment"))), "*/").parse_next(i)?;
        } else {
            return Ok(());
        }
    }
}

/// A punctuation token, after any whitespace.
fn sym<'a>(token: &'static str) -> impl ModalParser<In<'a>, (), ContextError> {
    preceded(skip, literal(token).void().context(StrContext::Expected(StrContextValue::StringLiteral(token))))
}

/// `sym` whose failure stops the parse: we are inside a construct that has already started.
fn must<'a>(token: &'static str) -> impl ModalParser<In<'a>, (), ContextError> {
    cut_err(sym(token))
}

/// Whether a keyword (not merely a prefix of a longer name) comes next; consumes it if so.
fn keyword(i: &mut In<'_>, word: &'static str) -> ModalResult<bool> {
    skip(i)?;
    Ok(opt(terminated(literal(word), not(one_of(is_name_char)))).parse_next(i)?.is_some())
}

fn name(i: &mut In<'_>) -> ModalResult<(String, usize)> {
    skip(i)?;
    let pos = i.current_token_start();
    let text =
        cut_err(winnow::combinator::alt((delimited('"', take_till(0.., '"'), '"'), take_while(1.., is_name_char))).context(expected("a name")))
            .parse_next(i)?;
    Ok((text.to_owned(), pos))
}

fn number(i: &mut In<'_>) -> ModalResult<f64> {
    preceded(skip, cut_err(ascii::float.context(expected("a number")))).parse_next(i)
}

/// `n, n, ...;` (commas optional, as in some older files).
fn numbers(i: &mut In<'_>) -> ModalResult<Vec<f64>> {
    let mut values = vec![number(i)?];
    loop {
        skip(i)?;
        if i.starts_with(';') {
            must(";").parse_next(i)?;
            return Ok(values);
        }
        let comma = i.starts_with(',');
        if comma {
            must(",").parse_next(i)?;
            skip(i)?;
        }
        if comma || i.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '.' | '-' | '+')) {
            values.push(number(i)?);
        } else {
            return Err(fail_here(&["`,`", "`;`"]));
        }
    }
}

/// `property ... ;` carries nothing we use.
fn property_rest(i: &mut In<'_>) -> ModalResult<()> {
    (take_till(0.., ';'), must(";")).void().parse_next(i)
}

fn file(i: &mut In<'_>) -> ModalResult<(String, Vec<Block>)> {
    let mut name = String::from("unknown");
    let mut blocks = Vec::new();
    loop {
        skip(i)?;
        if i.is_empty() {
            return Ok((name, blocks));
        }
        let block = if keyword(i, "network")? {
            name = network_block(i)?;
            Block::Network
        } else if keyword(i, "variable")? {
            Block::Variable(variable_block(i)?)
        } else if keyword(i, "probability")? {
            Block::Probability(probability_block(i)?)
        } else {
            return Err(fail_here(&["`network`", "`variable`", "`probability`"]));
        };
        blocks.push(block);
    }
}

/// A committed error at the current position listing what would have been accepted.
fn fail_here(accepted: &[&'static str]) -> ErrMode<ContextError> {
    let mut error = ContextError::new();
    for what in accepted {
        error.push(expected(what));
    }
    ErrMode::Cut(error)
}

fn network_block(i: &mut In<'_>) -> ModalResult<String> {
    let (name, _) = name(i)?;
    must("{").parse_next(i)?;
    loop {
        if keyword(i, "property")? {
            property_rest(i)?;
        } else {
            skip(i)?;
            if !i.starts_with('}') {
                return Err(fail_here(&["`property`", "`}`"]));
            }
            must("}").parse_next(i)?;
            return Ok(name);
        }
    }
}

fn variable_block(i: &mut In<'_>) -> ModalResult<VarDecl> {
    let (name, _) = name(i)?;
    must("{").parse_next(i)?;
    let mut decl: Option<(usize, Vec<String>)> = None;
    loop {
        if keyword(i, "property")? {
            property_rest(i)?;
            continue;
        }
        if decl.is_none() && keyword(i, "type")? {
            decl = Some(type_decl(i)?);
            continue;
        }
        skip(i)?;
        let accepted: &[&str] = if decl.is_none() { &["`type`", "`property`"] } else { &["`property`", "`}`"] };
        if decl.is_none() || !i.starts_with('}') {
            return Err(fail_here(accepted));
        }
        must("}").parse_next(i)?;
        let (declared, states) = decl.expect("checked above");
        return Ok(VarDecl { name, declared, states });
    }
}

/// `discrete [ n ] { s1, s2 };` after `type`.
fn type_decl(i: &mut In<'_>) -> ModalResult<(usize, Vec<String>)> {
    if !keyword(i, "discrete")? {
        return Err(fail_here(&["`discrete`"]));
    }
    must("[").parse_next(i)?;
    skip(i)?;
    let declared = cut_err(ascii::digit1.try_map(str::parse::<usize>).context(expected("a number of states"))).parse_next(i)?;
    must("]").parse_next(i)?;
    opt(sym("=")).parse_next(i)?;
    must("{").parse_next(i)?;
    let mut states = vec![name(i)?.0];
    loop {
        skip(i)?;
        if i.starts_with('}') {
            break;
        }
        if i.starts_with(',') {
            must(",").parse_next(i)?;
        }
        states.push(name(i)?.0);
    }
    must("}").parse_next(i)?;
    must(";").parse_next(i)?;
    Ok((declared, states))
}

fn probability_block(i: &mut In<'_>) -> ModalResult<ProbBlock> {
    must("(").parse_next(i)?;
    let node = name(i)?;
    let mut parents = Vec::new();
    skip(i)?;
    if i.starts_with('|') {
        must("|").parse_next(i)?;
        parents.push(name(i)?);
        loop {
            skip(i)?;
            if !i.starts_with(',') {
                break;
            }
            must(",").parse_next(i)?;
            parents.push(name(i)?);
        }
    }
    cut_err(sym(")").context(expected(if parents.is_empty() { "`|`" } else { "`,`" }))).parse_next(i)?;
    must("{").parse_next(i)?;
    let mut entries = Vec::new();
    loop {
        skip(i)?;
        let pos = i.current_token_start();
        if keyword(i, "table")? {
            entries.push(Entry::Table { values: numbers(i)?, pos });
        } else if keyword(i, "property")? {
            property_rest(i)?;
        } else if i.starts_with('(') {
            must("(").parse_next(i)?;
            let mut states = vec![name(i)?];
            loop {
                skip(i)?;
                if !i.starts_with(',') {
                    break;
                }
                must(",").parse_next(i)?;
                states.push(name(i)?);
            }
            cut_err(sym(")").context(expected("`,`"))).parse_next(i)?;
            entries.push(Entry::Row { states, values: numbers(i)?, pos });
        } else if i.starts_with('}') {
            must("}").parse_next(i)?;
            return Ok(ProbBlock { node, parents, entries });
        } else {
            return Err(fail_here(&["`(`", "`table`", "`property`", "`}`"]));
        }
    }
}

/// Resolves names and rows, then lets [`Network::new`] check the graph and the numbers.
fn build(text: &str, name: String, blocks: Vec<Block>) -> Result<Network, BayesError> {
    let at = |pos: usize| Location::from_offset(text, pos);
    let mut vars: Vec<VarDecl> = Vec::new();
    let mut probs: Vec<ProbBlock> = Vec::new();
    for block in blocks {
        match block {
            Block::Network => {}
            Block::Variable(v) => vars.push(v),
            Block::Probability(p) => probs.push(p),
        }
    }
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(vars.len());
    for (k, v) in vars.iter().enumerate() {
        if index.insert(&v.name, k).is_some() {
            return Err(BayesError::DuplicateVariable { node: v.name.clone() });
        }
        if let Some(state) = v.states.iter().enumerate().find_map(|(k, s)| v.states[..k].contains(s).then_some(s)) {
            return Err(BayesError::DuplicateState { node: v.name.clone(), state: state.clone() });
        }
        if v.declared != v.states.len() {
            return Err(BayesError::StateCount { node: v.name.clone(), declared: v.declared, listed: v.states.len() });
        }
    }

    let mut tables: Vec<Option<(Vec<String>, Vec<f64>)>> = vec![None; vars.len()];
    for block in &probs {
        let (node_name, node_pos) = &block.node;
        let node = *index.get(node_name.as_str()).ok_or_else(|| BayesError::UnknownVariable {
            node: node_name.clone(),
            name: node_name.clone(),
            at: at(*node_pos),
        })?;
        if tables[node].is_some() {
            return Err(BayesError::DuplicateTable { node: node_name.clone() });
        }
        let parents = block
            .parents
            .iter()
            .map(|(p, pos)| {
                index.get(p.as_str()).copied().ok_or_else(|| BayesError::UnknownVariable { node: node_name.clone(), name: p.clone(), at: at(*pos) })
            })
            .collect::<Result<Vec<usize>, _>>()?;
        let width = vars[node].states.len();
        let rows: usize = parents.iter().map(|&p| vars[p].states.len()).product();
        let mut cpt = vec![0.0; rows * width];
        let mut filled = vec![false; rows];
        for entry in &block.entries {
            match entry {
                Entry::Table { values, pos } => {
                    if filled.iter().any(|&f| f) {
                        return Err(BayesError::DuplicateTable { node: node_name.clone() });
                    }
                    if values.len() != cpt.len() {
                        return Err(BayesError::RowLength { node: node_name.clone(), expected: cpt.len(), found: values.len(), at: at(*pos) });
                    }
                    // Own state slowest in the file; our rows are parent combinations.
                    for (k, &v) in values.iter().enumerate() {
                        let (state, row) = (k / rows, k % rows);
                        cpt[row * width + state] = v;
                    }
                    filled.fill(true);
                }
                Entry::Row { states, values, pos } => {
                    if states.len() != parents.len() {
                        return Err(BayesError::RowKey { node: node_name.clone(), expected: parents.len(), found: states.len(), at: at(*pos) });
                    }
                    let mut row = 0;
                    for ((state, spos), &p) in states.iter().zip(&parents) {
                        let s = vars[p].states.iter().position(|x| x == state).ok_or_else(|| BayesError::UnknownState {
                            node: node_name.clone(),
                            variable: vars[p].name.clone(),
                            state: state.clone(),
                            at: at(*spos),
                        })?;
                        row = row * vars[p].states.len() + s;
                    }
                    if values.len() != width {
                        return Err(BayesError::RowLength { node: node_name.clone(), expected: width, found: values.len(), at: at(*pos) });
                    }
                    if std::mem::replace(&mut filled[row], true) {
                        return Err(BayesError::DuplicateRow {
                            node: node_name.clone(),
                            row: states.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(", "),
                            at: at(*pos),
                        });
                    }
                    cpt[row * width..(row + 1) * width].copy_from_slice(values);
                }
            }
        }
        let missing: Vec<usize> = (0..rows).filter(|&r| !filled[r]).collect();
        if !missing.is_empty() {
            let describe = |mut r: usize| {
                let mut names = vec![""; parents.len()];
                for (slot, &p) in names.iter_mut().zip(&parents).rev() {
                    let states = &vars[p].states;
                    *slot = &states[r % states.len()];
                    r /= states.len();
                }
                format!("({})", names.join(", "))
            };
            let mut listed: Vec<String> = missing.iter().take(3).map(|&r| describe(r)).collect();
            if parents.is_empty() {
                listed = vec!["its prior".to_owned()];
            } else if missing.len() > 3 {
                listed.push(format!("{} more rows", missing.len() - 3));
            }
            return Err(BayesError::MissingRows { node: node_name.clone(), missing: listed.join(", ") });
        }
        tables[node] = Some((block.parents.iter().map(|(p, _)| p.clone()).collect(), cpt));
    }

    let specs = vars
        .into_iter()
        .zip(tables)
        .map(|(v, table)| {
            let (parents, cpt) =
                table.ok_or_else(|| BayesError::MissingRows { node: v.name.clone(), missing: "its table (no `probability` block)".to_owned() })?;
            Ok(NodeSpec { name: v.name, states: v.states, parents, cpt })
        })
        .collect::<Result<Vec<_>, BayesError>>()?;
    Network::new(name, specs)
}
