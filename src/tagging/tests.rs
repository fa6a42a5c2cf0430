//! The record, the lexer and the marker, without TeX.

use super::*;

fn marker_for(record: &str) -> Vec<Elem> {
    parse_record(record.as_bytes()).unwrap()
}

#[test]
fn the_record_makes_a_tree_in_reading_order() {
    let e = marker_for("B H1\nE\nB Table\nB TR\nB TH col\nE\nE\nE\nB Figure 00410042\nE\n");
    assert_eq!(e[0].kids, [1, 2, 5]);
    assert_eq!((e[3].parent, e[4].parent, e[4].extra.as_str()), (2, 3, "col"));
    assert!(parse_record(b"B Span\n").unwrap_err().contains("unknown structure type"));
    assert!(parse_record(b"B Figure (x)\n").is_err());
    assert_eq!(marker_for("B Figure FEFF 0041\n")[1].extra, "FEFF0041");
}

#[test]
fn the_lexer_skips_what_operands_hold() {
    let b = b"q 1 0 0 1 2 3 cm BT /F1 10 Tf [(a\\) EMC \\(b) 2 <4142>] TJ (nested (EMC) here) Tj ET % EMC in a comment\n/RQ /N1 BDC EMC BI /W 1 ID \x00EMC\xff EI Q";
    let ops: Vec<String> = lex(b).unwrap().iter().map(|o| String::from_utf8_lossy(&b[o.name.0..o.name.1]).into_owned()).collect();
    assert_eq!(ops, ["q", "cm", "BT", "Tf", "TJ", "Tj", "ET", "BDC", "EMC", "BI", "ID", "EI", "Q"]);
}

#[test]
fn marks_are_numbered_per_page_flattened_and_reopened_across_pages() {
    let mut elems = marker_for("B P\nE\nB P\nE\n");
    let mut m = Marker { elems: &mut elems, want: Vec::new() };
    // Page 1: element 1 whole, element 2 begun; the footer, an artifact, inside it.
    let p1 = b"/RQ /N1 BDC BT (a) Tj ET EMC /RQ /N2 BDC BT (b) Tj ET /Artifact BMC 0 0 1 1 re f EMC";
    let (out, owners) = m.page(0, p1).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(owners, [1, 2]);
    let squeezed: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(squeezed.join(" "), "/P <</MCID 0>> BDC BT (a) Tj ET EMC /P <</MCID 1>> BDC BT (b) Tj ET EMC /Artifact BMC 0 0 1 1 re f EMC");
    // Page 2: element 2 goes on under a new MCID; painting TeX did not mark is an artifact.
    let (out, owners) = m.page(1, b"BT (c) Tj ET EMC 0 0 1 1 re f").unwrap();
    assert_eq!(owners, [2]);
    let squeezed: Vec<String> = String::from_utf8(out).unwrap().split_whitespace().map(String::from).collect();
    assert_eq!(squeezed.join(" "), "/P <</MCID 0>> BDC BT (c) Tj ET EMC /Artifact BMC 0 0 1 1 re f EMC");
    assert_eq!(elems[2].mcs, [(0, 1), (1, 0)]);
}

#[test]
fn marks_nest_with_text_objects_and_graphics_states() {
    let mut elems = marker_for("B P\nE\n");
    let mut m = Marker { elems: &mut elems, want: Vec::new() };
    // A mark TeX begins inside a text object closes at its ET and inside a q at its Q, and
    // opens again for what it paints after them.
    let (out, owners) = m.page(0, b"q BT /RQ /N1 BDC (a) Tj ET Q 0 0 1 1 re f EMC").unwrap();
    let squeezed: Vec<String> = String::from_utf8(out).unwrap().split_whitespace().map(String::from).collect();
    assert_eq!(squeezed.join(" "), "q BT /P <</MCID 0>> BDC (a) Tj EMC ET Q /P <</MCID 1>> BDC 0 0 1 1 re f EMC");
    assert_eq!(owners, [1, 1]);
    let (out, _) = m.page(1, b"q /RQ /N1 BDC 0 0 1 1 re f Q EMC").unwrap();
    let squeezed: Vec<String> = String::from_utf8(out).unwrap().split_whitespace().map(String::from).collect();
    assert_eq!(squeezed.join(" "), "q /P <</MCID 0>> BDC 0 0 1 1 re f EMC Q");
}
