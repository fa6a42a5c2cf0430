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
        // (PDF/A-1b documents, through pdfx, have no preamble format: they compile whole.)
        for standard in ["a-2a", "a-2b", "none"] {
            let req = with_standard(example_file, standard);
            let a = fast.renderer.render(&req, &ctx(&req)).unwrap_or_else(|e| panic!("{e}"));
            let b = whole.renderer.render(&req, &ctx(&req)).unwrap_or_else(|e| panic!("{e}"));
            assert!(a.tex_format.starts_with("rq-"), "{example_file} {standard}: no preamble format was used ({}): run `make setup`", a.tex_format);
            assert_eq!(b.tex_format, "latex");
            assert!(reportq::texformat::split(&reportq::template::prepare(&req.params, &ctx(&req)).unwrap().tex).is_some());
            assert!(a.pdf == b.pdf, "{example_file} {standard}: the preamble format changed the PDF ({} vs {} bytes)", a.pdf.len(), b.pdf.len());
        }
    }
}

#[test]
fn pdfx_documents_compile_whole() {
    let h = harness();
    let req = with_standard("diagram.json", "a-1b");
    assert_eq!(h.renderer.render(&req, &ctx(&req)).unwrap_or_else(|e| panic!("{e}")).tex_format, "latex");
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

#[test]
fn nothing_above_the_format_mark_depends_on_the_request() {
    use reportq::template::{Date, RenderContext};
    let head = |json: &serde_json::Value, epoch: i64, standard: &str| {
        let mut json = json.clone();
        json["pdf"] = json!({"standard": standard});
        let req = ReportRequest::from_value(json).unwrap();
        let tex = reportq::template::prepare(&req.params, &RenderContext::new(Date::from_epoch(epoch), req.pdf.standard)).unwrap().tex;
        reportq::texformat::split(&tex).map(|(h, _)| h.to_string())
    };
    let summary: serde_json::Value = serde_json::from_slice(&example("summary.json")).unwrap();
    let mut other = summary.clone();
    other["params"]["title"] = json!("Another title with % and \\input{/etc/passwd}");
    other["params"]["author"] = json!("Someone else");
    other["params"]["sections"][0]["heading"] = json!("Changed");
    let diagram: serde_json::Value = serde_json::from_slice(&example("diagram.json")).unwrap();
    let mut other_diagram = diagram.clone();
    other_diagram["params"]["organisation"] = json!("Another archive");
    for standard in ["a-2a", "a-3a", "a-2b", "a-3b", "none"] {
        let a = head(&summary, 1_790_000_000, standard).expect("a format mark");
        assert_eq!(Some(a.clone()), head(&other, 1_700_000_000, standard), "{standard}: the summary's head changed with the request");
        assert!(!a.contains("Quarterly") && !a.contains("reportq tests"), "user text above the mark");
        let d = head(&diagram, 1_790_000_000, standard).expect("a format mark");
        assert_eq!(Some(d.clone()), head(&other_diagram, 1_700_000_000, standard), "{standard}: the diagram's head changed with the request");
        assert_ne!(a, d, "the orientation is part of the head");
    }
    // The tagged document declares its language before the class: another language, another head.
    let mut german = summary.clone();
    german["params"]["language"] = json!("de-DE");
    assert_ne!(head(&german, 0, "a-2a"), head(&summary, 0, "a-2a"));
    assert_eq!(head(&summary, 0, "a-1b"), None, "pdfx documents have no format mark");
    // What setup builds: one format per distinct head.
    let heads = reportq::setup::heads().unwrap();
    // (a-3a's head names PDF/A-3a where a-2a's names PDF/A-2a.)
    assert_ne!(head(&summary, 0, "a-3a"), head(&summary, 0, "a-2a"));
    assert_ne!(head(&summary, 0, "a-2b"), head(&summary, 0, "a-2a"));
    // Two templates, five standards with a format (all but PDF/A-1b).
    assert_eq!(heads.len(), 10, "{:?}", heads.iter().map(|(_, w)| w).collect::<Vec<_>>());
}
