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

#[test]
fn streams_ending_in_a_carriage_return_are_copied_in_ascii85() {
    use lopdf::{Stream, dictionary};
    assert_eq!(write::ascii85(b"Man sure."), b"9jqo^F*2M7/c~>");
    assert_eq!(write::ascii85(b"\0\0\0\0ab"), b"z@:B~>");
    // A deflated stream whose Adler-32 ends in a carriage return (any level: found by trying
    // contents), and an unfiltered one ending so.
    let deflate = |c: &[u8]| {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(c).unwrap();
        z.finish().unwrap()
    };
    let (content, z) = (0..10_000)
        .map(|i| format!("0 0 m {i} {i} l S").into_bytes())
        .map(|c| (c.clone(), deflate(&c)))
        .find(|(_, z)| z.last() == Some(&b'\r'))
        .unwrap();
    let mut doc = Document::with_version("1.4");
    let a = doc.add_object(Stream::new(dictionary! {"Filter" => "FlateDecode"}, z));
    let b = doc.add_object(Stream::new(dictionary! {}, b"0 0 m\r".to_vec()));
    let c = doc.add_object(Stream::new(dictionary! {}, b"0 0 m".to_vec()));
    let root = doc.add_object(dictionary! {"Type" => "Catalog"});
    doc.trailer.set("Root", Object::Reference(root));
    let mut pdf = Vec::new();
    doc.save_to(&mut pdf).unwrap();
    let tex = Document::load_mem(&pdf).unwrap();
    let mut out = PdfOut::new(tex.max_id + 1, 4096);
    out.copy(&pdf, &tex, &HashSet::new()).unwrap();
    let copied = out.finish(&tex.trailer);
    let back = Document::load_mem(&copied).unwrap();
    for (id, want, filters) in
        [(a, &content[..], vec!["ASCII85Decode", "FlateDecode"]), (b, b"0 0 m\r", vec!["ASCII85Decode"]), (c, b"0 0 m", vec![])]
    {
        let s = back.get_object(id).unwrap().as_stream().unwrap();
        assert_ne!(s.content.last(), Some(&b'\r'), "{id:?}");
        let got: Vec<String> = s.filters().unwrap_or_default().iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        assert_eq!(got, filters, "{id:?}");
        let decoded = if filters.is_empty() { s.content.clone() } else { s.decompressed_content().unwrap() };
        assert_eq!(decoded, want, "{id:?}");
    }
}
