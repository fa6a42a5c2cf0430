//! Preamble formats (src/texformat.rs): a render that loads its preamble's format gives the
//! same bytes as the whole document compiled on LaTeX's own format, and a preamble without a
//! format still renders. Needs `make setup` (which builds the formats).

use crate::common;

use common::*;
use reportq::ReportRequest;
use serde_json::json;

fn with_standard(example_file: &str, standard: &str) -> ReportRequest {
    let mut json: serde_json::Value = serde_json::from_slice(&example(example_file)).unwrap();
    json["pdf"] = json!({"standard": standard});
    ReportRequest::from_value(json).unwrap()
}

#[test]
fn preamble_formats_give_the_bytes_of_the_whole_document() {
    let fast = harness();
    let whole = harness_with(|c| c.preload = false);
    for example_file in ["diagram.json", "summary.json"] {
        // a-3b and a-1b share a-2b's preamble (pdfx comes after the format's end).
        for standard in ["a-2a", "a-2b", "none"] {
            let req = with_standard(example_file, standard);
            let a = fast.renderer.render(&req, &ctx(&req)).unwrap_or_else(|e| panic!("{e}"));
            let b = whole.renderer.render(&req, &ctx(&req)).unwrap_or_else(|e| panic!("{e}"));
            assert!(a.tex_format.starts_with("rq-"), "{example_file} {standard}: no preamble format was used ({}): run `make setup`", a.tex_format);
            assert_eq!(b.tex_format, "latex");
            assert!(a.pdf == b.pdf, "{example_file} {standard}: the preamble format changed the PDF ({} vs {} bytes)", a.pdf.len(), b.pdf.len());
        }
    }
}

#[test]
fn a_preamble_without_a_format_compiles_whole() {
    let h = harness();
    // Setup builds formats for the examples' language; German metadata makes another preamble
    // (the tagged document's language is declared before the class).
    let mut json: serde_json::Value = serde_json::from_slice(&example("summary.json")).unwrap();
    json["params"]["language"] = json!("de-DE");
    json["params"]["title"] = json!("Jahresbericht Übersicht");
    let req = ReportRequest::from_value(json).unwrap();
    let r = h.renderer.render(&req, &ctx(&req)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.tex_format, "latex");
    assert!(squash(&pdf_text(&r.pdf)).contains("JahresberichtÜbersicht"));
    // The metadata names the request's language.
    assert!(r.pdf.windows(5).any(|w| w == b"de-DE"), "no de-DE in the PDF");
}
