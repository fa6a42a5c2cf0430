//! The BIF reader: accepted dialects and every way a file is refused.

use reportq::bayes::{BayesError, Location, bif};

const GOOD: &str = r#"
// a line comment
network "tiny" {
    property author = someone ;
}
/* a block
   comment */
variable A {
    type discrete [ 2 ] { a1, a2 };
    property position = (1, 2) ;
}
variable B { type discrete [3] { b1, b2, b3 }; }
variable C {
    type discrete [ 2 ] { c1, c2 };
}
probability ( A ) {
    table 0.3, 0.7 ;
}
probability ( B | A ) {
    (a2) 0.2, 0.3, 0.5;   // rows in any order
    (a1) 0.1, 0.1, 0.8;
}
probability ( C | A, B ) {
    property note = x ;
    (a1, b1) 0.5, 0.5;
    (a1, b2) 0.4, 0.6;
    (a1, b3) 0.3, 0.7;
    (a2, b1) 0.2, 0.8;
    (a2, b2) 0.1, 0.9;
    (a2, b3) 1, 0;
}
"#;

fn parse_err(text: &str) -> BayesError {
    bif::parse(text).expect_err("should be refused")
}

/// GOOD with one substring replaced.
fn good_with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn reads_comments_properties_quoted_names_and_rows_in_any_order() {
    let net = bif::parse(GOOD).unwrap();
    assert_eq!(net.name(), "tiny");
    assert_eq!(net.len(), 3);
    let b = net.node("B").unwrap();
    assert_eq!(net.cpt(b), &[0.1, 0.1, 0.8, 0.2, 0.3, 0.5]);
    let c = net.node("C").unwrap();
    assert_eq!(net.parents(c), &[net.node("A").unwrap(), b]);
    assert_eq!(net.row_states(c, 4), vec!["a2", "b2"]);
    // P(C=c1) by hand.
    let pa = [0.3, 0.7];
    let pb = [[0.1, 0.1, 0.8], [0.2, 0.3, 0.5]];
    let pc1 = [[0.5, 0.4, 0.3], [0.2, 0.1, 1.0]];
    let want: f64 = (0..2).flat_map(|a| (0..3).map(move |b| pa[a] * pb[a][b] * pc1[a][b])).sum();
    assert!((net.marginal(c)[0] - want).abs() < 1e-15);
}

#[test]
fn reads_table_for_a_node_with_parents_as_pgmpy_does() {
    // Own state slowest: P(B=b1|a1), P(B=b1|a2), P(B=b2|a1), ...
    let text = good_with("(a2) 0.2, 0.3, 0.5;   // rows in any order\n    (a1) 0.1, 0.1, 0.8;", "table 0.1, 0.2, 0.1, 0.3, 0.8, 0.5;");
    let net = bif::parse(&text).unwrap();
    assert_eq!(net.cpt(net.node("B").unwrap()), &[0.1, 0.1, 0.8, 0.2, 0.3, 0.5]);
}

#[test]
fn reads_bnlearn_style_without_network_block_and_exponents() {
    let text = "variable X {\n  type discrete [ 2 ] { yes, no };\n}\nprobability ( X ) {\n  table 1e-05, 0.99999;\n}\n";
    let net = bif::parse(text).unwrap();
    assert_eq!(net.cpt(net.node("X").unwrap()), &[1e-05, 0.99999]);
}

fn assert_syntax(text: &str, line: usize, column: usize, expected: &str) {
    match parse_err(text) {
        e @ BayesError::Syntax { .. } => {
            let BayesError::Syntax { line: l, column: c, expected: x, .. } = &e else { unreachable!() };
            assert_eq!((*l, *c), (line, column), "{e}");
            assert!(x.contains(expected), "{e} should expect {expected}");
            assert!(e.to_string().starts_with(&format!("line {line}, column {column}: expected")), "{e}");
        }
        other => panic!("expected a syntax error, got {other}"),
    }
}

#[test]
fn malformed_files_report_line_column_and_expectation() {
    // Missing `;` after a row: reported where the next row starts.
    assert_syntax(&good_with("(a1, b1) 0.5, 0.5;", "(a1, b1) 0.5, 0.5"), 26, 5, "`;`");
    // Unknown top-level word.
    assert_syntax(&good_with("variable C {", "varable C {"), 13, 1, "`variable`");
    // Missing closing parenthesis in a header.
    assert_syntax(&good_with("probability ( B | A )", "probability ( B | A"), 19, 21, "`)`");
    // A word where a number belongs.
    assert_syntax(&good_with("table 0.3, 0.7 ;", "table 0.3, seven ;"), 17, 16, "a number");
    // A trailing comma, and two numbers without a separator before a word.
    assert_syntax(&good_with("table 0.3, 0.7 ;", "table 0.3, 0.7, ;"), 17, 21, "a number");
    assert_syntax(&good_with("table 0.3, 0.7 ;", "table 0.3 0.7 x ;"), 17, 19, "`;`");
    assert_syntax(&good_with("table 0.3, 0.7 ;", "table ;"), 17, 11, "a number");
    // Unterminated block comment.
    assert_syntax(&good_with("comment */", "comment"), 6, 3, "`*/`");
    // `type` missing from a variable.
    assert_syntax(&good_with("variable B { type discrete [3] { b1, b2, b3 }; }", "variable B { }"), 12, 14, "`type`");
    // Truncated file.
    let truncated = &GOOD[..GOOD.find("(a2, b3)").unwrap()];
    let e = parse_err(truncated);
    assert!(e.to_string().contains("found end of file"), "{e}");
}

#[test]
fn cyclic_network_is_refused_naming_the_cycle() {
    let text = good_with("variable A {\n    type discrete [ 2 ] { a1, a2 };", "variable A {\n    type discrete [ 2 ] { a1, a2 };")
        .replace("probability ( A ) {\n    table 0.3, 0.7 ;\n}", "probability ( A | C ) {\n    (c1) 0.3, 0.7;\n    (c2) 0.6, 0.4;\n}");
    match parse_err(&text) {
        BayesError::Cycle { node, cycle } => {
            assert!(["A", "B", "C"].contains(&node.as_str()));
            assert!(cycle.contains('A') && cycle.contains('C'), "{cycle}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn unknown_variable_is_refused_naming_the_node() {
    let e = parse_err(&good_with("probability ( C | A, B )", "probability ( C | A, D )"));
    assert!(matches!(&e, BayesError::UnknownVariable { node, name, at } if node == "C" && name == "D" && at.line == 23), "{e}");
    assert!(e.to_string().contains("line 23, column 22"), "{e}");
    let e = parse_err(&good_with("probability ( A )", "probability ( Z )"));
    assert!(matches!(&e, BayesError::UnknownVariable { node, .. } if node == "Z"), "{e}");
}

#[test]
fn unknown_state_is_refused_naming_node_and_state() {
    let e = parse_err(&good_with("(a1, b2) 0.4, 0.6;", "(a1, b9) 0.4, 0.6;"));
    assert!(
        matches!(&e, BayesError::UnknownState { node, variable, state, at } if node == "C" && variable == "B" && state == "b9" && *at == Location { line: 26, column: 10 }),
        "{e}"
    );
}

#[test]
fn wrong_row_length_is_refused() {
    let e = parse_err(&good_with("(a1) 0.1, 0.1, 0.8;", "(a1) 0.2, 0.8;"));
    assert!(matches!(&e, BayesError::RowLength { node, expected: 3, found: 2, .. } if node == "B"), "{e}");
    let e = parse_err(&good_with("table 0.3, 0.7 ;", "table 0.3, 0.3, 0.4 ;"));
    assert!(matches!(&e, BayesError::RowLength { node, expected: 2, found: 3, .. } if node == "A"), "{e}");
    // Too few parent states in a row key.
    let e = parse_err(&good_with("(a1, b2) 0.4, 0.6;", "(a1) 0.4, 0.6;"));
    assert!(matches!(&e, BayesError::RowKey { node, expected: 2, found: 1, .. } if node == "C"), "{e}");
}

#[test]
fn missing_and_duplicate_rows_are_refused() {
    let e = parse_err(&good_with("    (a2, b2) 0.1, 0.9;\n", ""));
    assert!(matches!(&e, BayesError::MissingRows { node, missing } if node == "C" && missing.contains("(a2, b2)")), "{e}");
    let e = parse_err(&good_with("(a2, b2) 0.1, 0.9;", "(a2, b1) 0.1, 0.9;"));
    assert!(matches!(&e, BayesError::DuplicateRow { node, .. } if node == "C"), "{e}");
    // A variable without any probability block.
    let e = parse_err(&good_with("probability ( A ) {\n    table 0.3, 0.7 ;\n}", ""));
    assert!(matches!(&e, BayesError::MissingRows { node, .. } if node == "A"), "{e}");
}

#[test]
fn distributions_not_summing_to_one_are_refused() {
    let e = parse_err(&good_with("(a1, b3) 0.3, 0.7;", "(a1, b3) 0.3, 0.71;"));
    assert!(matches!(&e, BayesError::BadSum { node, row, .. } if node == "C" && row == "row (a1, b3)"), "{e}");
    assert!(e.to_string().contains("`C`"), "{e}");
    let e = parse_err(&good_with("table 0.3, 0.7 ;", "table 1.3, -0.3 ;"));
    assert!(matches!(&e, BayesError::BadProbability { node, .. } if node == "A"), "{e}");
    // Within 1e-6 is accepted as written.
    bif::parse(&good_with("table 0.3, 0.7 ;", "table 0.3, 0.7000005 ;")).unwrap();
}

#[test]
fn declaration_errors_are_refused() {
    let e = parse_err(&good_with("type discrete [3] { b1, b2, b3 }", "type discrete [4] { b1, b2, b3 }"));
    assert!(matches!(&e, BayesError::StateCount { node, declared: 4, listed: 3 } if node == "B"), "{e}");
    let e = parse_err(&good_with("{ b1, b2, b3 }", "{ b1, b2, b1 }"));
    assert!(matches!(&e, BayesError::DuplicateState { node, .. } if node == "B"), "{e}");
    let e = parse_err(&format!("{GOOD}\nvariable A {{ type discrete [ 2 ] {{ x, y }}; }}"));
    assert!(matches!(&e, BayesError::DuplicateVariable { node } if node == "A"), "{e}");
}
