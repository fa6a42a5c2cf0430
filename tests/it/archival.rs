//! Archival output: PDF/A validated by a rule-based validator (and PDFBox Preflight for
//! PDF/A-1b), byte-identical re-renders, and the accessibility basics XeTeX allows.

use crate::common;

use std::process::Command;

use common::*;
use page_validation::{ValidationOptions, ValidationProfile, validate_pdf_bytes};
use serde_json::{Value, json};

fn example_json(name: &str) -> Value {
    serde_json::from_slice(&example(name)).unwrap()
}

fn with_standard(mut v: Value, standard: &str) -> Value {
    v["pdf"] = json!({"standard": standard});
    v
}

/// The failed rules, as "rule: message" lines (empty when the file conforms).
fn failures(pdf: &[u8], profile: ValidationProfile) -> Vec<String> {
    let report = validate_pdf_bytes(pdf, &ValidationOptions::default().profile(profile)).expect("validator parses the PDF");
    assert!(report.rules.total > 50, "only {} rules were checked", report.rules.total);
    let fails: Vec<String> = report.failures.iter().map(|f| format!("{}: {}", f.rule_id, f.message)).collect();
    assert_eq!(report.is_compliant, fails.is_empty());
    fails
}

fn hostile() -> Value {
    let text = r#"\input{/etc/passwd} & % $ # _ { } ~ ^ \ Zoë Ελληνικά Кириллица 😀 🦀 漢字 한국어 <b>"q"</b> \u{0007}"#;
    json!({"template": "summary", "params": {
        "title": text, "author": text, "language": "en-GB",
        "sections": [{"heading": text, "paragraphs": [text],
                      "tables": [{"caption": text, "header": [text, "b"], "rows": [[text, text]]}],
                      "charts": [{"title": text, "kind": "bar", "categories": [text], "series": [{"name": text, "values": [1.5]}]}]}]}})
}

#[test]
fn every_template_and_hostile_text_is_valid_pdfa_2b_by_default() {
    let h = harness();
    for (name, req) in [("diagram", example_json("diagram.json")), ("summary", example_json("summary.json")), ("hostile", hostile())] {
        let pdf = render_json(&h, &req);
        let fails = failures(&pdf, ValidationProfile::PdfA2b);
        assert!(fails.is_empty(), "{name} is not PDF/A-2b:\n{}", fails.join("\n"));
    }
}

#[test]
fn a_plain_pdf_fails_the_same_check() {
    // The negative control: proves the validator can fail, on the rules PDF/A adds.
    let h = harness();
    let pdf = render_json(&h, &with_standard(example_json("summary.json"), "none"));
    let fails = failures(&pdf, ValidationProfile::PdfA2b);
    assert!(!fails.is_empty(), "a plain PDF passed as PDF/A-2b");
    assert!(fails.iter().any(|f| f.contains("PDF/A Identification schema")), "{fails:#?}");
    assert!(fails.iter().any(|f| f.contains("output colour space")), "{fails:#?}");
}

#[test]
fn pdfa_3b_and_1b_variants_validate() {
    let h = harness();
    let a3 = render_json(&h, &with_standard(example_json("summary.json"), "a-3b"));
    assert_eq!(failures(&a3, ValidationProfile::PdfA3b), Vec::<String>::new());
    let a1 = render_json(&h, &with_standard(example_json("diagram.json"), "a-1b"));
    assert_eq!(failures(&a1, ValidationProfile::PdfA1b), Vec::<String>::new());
}

fn preflight(pdf: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a1b.pdf");
    std::fs::write(&path, pdf).unwrap();
    let j = "/usr/share/java";
    let cp =
        ["preflight", "pdfbox2", "fontbox2", "xmpbox", "commons-logging", "javax.activation", "jaxb-api"].map(|n| format!("{j}/{n}.jar")).join(":");
    let out = Command::new("java")
        .args(["-cp", &cp, "org.apache.pdfbox.preflight.Validator_A1b"])
        .arg(&path)
        .output()
        .expect("java and libpdfbox2-java (scripts/install-deps.sh)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (text.contains("is a valid PDF/A-1b file"), text)
}

#[test]
fn pdfbox_preflight_agrees_on_pdfa_1b() {
    let h = harness();
    let a1 = render_json(&h, &with_standard(example_json("diagram.json"), "a-1b"));
    let (ok, text) = preflight(&a1);
    assert!(ok, "Preflight refused the PDF/A-1b output:\n{text}");
    let hostile_a1 = render_json(&h, &with_standard(hostile(), "a-1b"));
    let (ok, text) = preflight(&hostile_a1);
    assert!(ok, "Preflight refused the hostile PDF/A-1b output:\n{text}");
    // And it can say no: a PDF/A-2b file is not PDF/A-1b.
    let a2 = render_json(&h, &example_json("summary.json"));
    assert!(!preflight(&a2).0, "Preflight accepted a PDF/A-2b file as PDF/A-1b");
}

fn render_in_new_process(req: &Value, epoch: i64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("req.json"), dir.path().join("out.pdf"));
    std::fs::write(&input, serde_json::to_vec(req).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reportq"))
        .args(["render", input.to_str().unwrap(), "-o", output.to_str().unwrap(), "--epoch", &epoch.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(output).unwrap()
}

#[test]
fn same_request_same_bytes_across_processes() {
    let req = example_json("diagram.json");
    let a = render_in_new_process(&req, 1_790_000_000);
    let b = render_in_new_process(&req, 1_790_000_000);
    assert!(a == b, "two renders of one request differ ({} vs {} bytes)", a.len(), b.len());

    let mut other = req.clone();
    other["params"]["organisation"] = json!("Another Archive");
    assert_ne!(render_in_new_process(&other, 1_790_000_000), a, "different metadata, same bytes");
    assert_ne!(render_in_new_process(&req, 1_790_086_400), a, "a different date, same bytes");
}

#[test]
fn accessibility_basics_are_in_the_file() {
    let h = harness();
    let pdf = render_json(&h, &example_json("diagram.json"));
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let catalog = doc.catalog().unwrap();
    let lang = catalog.get(b"Lang").and_then(|l| l.as_str()).expect("/Lang in the catalog");
    assert_eq!(lang, b"en-GB");
    assert!(catalog.get(b"Outlines").is_ok(), "no bookmarks");
    let prefs = match catalog.get(b"ViewerPreferences").expect("viewer preferences") {
        lopdf::Object::Reference(id) => doc.get_dictionary(*id).unwrap(),
        other => other.as_dict().unwrap(),
    };
    assert!(prefs.get(b"DisplayDocTitle").unwrap().as_bool().unwrap(), "title not shown in the viewer");
    let info = doc.trailer.get(b"Info").and_then(|i| i.as_reference()).and_then(|id| doc.get_dictionary(id)).unwrap();
    let title = info.get(b"Title").and_then(|t| t.as_str()).unwrap();
    let title = lopdf::decode_text_string(&lopdf::Object::string_literal(title.to_vec())).unwrap_or_default();
    assert_eq!(title, "DiAGRAM risk assessment: County Record Office, University Special Collections");
    // The charts' data in words, next to each chart.
    let text = squash(&pdf_text(&pdf));
    assert!(text.contains("BarchartofthescoresofCountyRecordOffice"), "no chart description");
}
