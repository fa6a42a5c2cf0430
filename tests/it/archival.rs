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
fn every_template_and_hostile_text_is_valid_pdfa_2b_when_asked() {
    let h = harness();
    for (name, req) in [("diagram", example_json("diagram.json")), ("summary", example_json("summary.json")), ("hostile", hostile())] {
        let pdf = render_json(&h, &with_standard(req, "a-2b"));
        let fails = failures(&pdf, ValidationProfile::PdfA2b);
        assert!(fails.is_empty(), "{name} is not PDF/A-2b:\n{}", fails.join("\n"));
    }
}

/// A DiAGRAM request whose second model was built with advanced tables (no answers).
fn advanced_diagram() -> Value {
    let mut req = example_json("diagram.json");
    let m = &mut req["params"]["models"][1];
    m["is_advanced"] = json!(true);
    m["response"] = Value::Null;
    m["advanced"] = json!({"Tech_Metadata": {"Technical_Skills": ["Good", "Poor"], "Sufficient": [0.7, 0.4], "Insufficient": [0.3, 0.6]}});
    req
}

/// 100 models, each its own archive (a section, chart and answer table each: about 300 pages
/// and 12,000 structure elements, far past the 5,000 beyond which the default was untagged
/// until 12-04).
fn hundred_models() -> Value {
    let mut req = example_json("diagram.json");
    let m = req["params"]["models"][0].clone();
    req["params"]["models"] = (0..100)
        .map(|i| {
            let mut m = m.clone();
            m["model_name"] = json!(format!("Archive {i:03}"));
            m
        })
        .collect();
    req
}

/// The default output is tagged and accessible: PDF/A-2a and PDF/UA-1 with no failed rule, for
/// both examples, hostile text in every field, a DiAGRAM report with advanced tables and one
/// of 100 models.
#[test]
fn every_template_is_tagged_pdfa_2a_and_pdfua_1_by_default() {
    let h = harness();
    for (name, req) in [
        ("diagram", example_json("diagram.json")),
        ("summary", example_json("summary.json")),
        ("hostile", hostile()),
        ("advanced", advanced_diagram()),
        ("100 models", hundred_models()),
    ] {
        let pdf = render_json(&h, &req);
        for (profile, label) in [(ValidationProfile::PdfUa1, "PDF/UA-1"), (ValidationProfile::PdfA2a, "PDF/A-2a")] {
            let fails = failures(&pdf, profile);
            assert!(fails.is_empty(), "{name} is not {label}:\n{}", fails.join("\n"));
        }
    }
}

#[test]
fn an_untagged_pdf_fails_the_accessibility_checks() {
    // The negative control: the same report untagged (PDF/A-2b) fails PDF/UA-1
    // and PDF/A-2a, on the rules tagging satisfies.
    let h = harness();
    let pdf = render_json(&h, &with_standard(example_json("summary.json"), "a-2b"));
    let ua = failures(&pdf, ValidationProfile::PdfUa1);
    assert!(!ua.is_empty(), "an untagged PDF passed as PDF/UA-1");
    assert!(ua.iter().any(|f| f.contains("PDF/UA Identification") || f.contains("Marked") || f.contains("struct")), "{ua:#?}");
    assert!(!failures(&pdf, ValidationProfile::PdfA2a).is_empty(), "an untagged PDF passed as PDF/A-2a");
}

/// One element of the structure tree, read back with lopdf: its type, its alternative text,
/// and its text-bearing descendants' marked content (by MCID order, as a reader walks them).
#[derive(Debug)]
struct Elem {
    tag: String,
    alt: Option<String>,
    depth: usize,
}

fn structure(pdf: &[u8]) -> Vec<Elem> {
    let doc = lopdf::Document::load_mem(pdf).unwrap();
    let catalog = doc.catalog().unwrap();
    assert_eq!(
        catalog
            .get(b"MarkInfo")
            .ok()
            .and_then(|m| doc.dereference(m).ok())
            .and_then(|(_, m)| m.as_dict().ok())
            .and_then(|d| d.get(b"Marked").ok())
            .and_then(|b| b.as_bool().ok()),
        Some(true),
        "MarkInfo /Marked true"
    );
    let root = doc.dereference(catalog.get(b"StructTreeRoot").expect("a structure tree")).unwrap().1.as_dict().unwrap().clone();
    let rolemap = root.get(b"RoleMap").ok().and_then(|r| doc.dereference(r).ok()).and_then(|(_, r)| r.as_dict().ok().cloned());
    let mut out = Vec::new();
    fn walk(doc: &lopdf::Document, obj: &lopdf::Object, depth: usize, rolemap: &Option<lopdf::Dictionary>, out: &mut Vec<Elem>) {
        let Ok((_, obj)) = doc.dereference(obj) else { return };
        match obj {
            lopdf::Object::Array(items) => items.iter().for_each(|k| walk(doc, k, depth, rolemap, out)),
            lopdf::Object::Dictionary(d) => {
                let Ok(s) = d.get(b"S").and_then(|s| s.as_name()) else { return };
                let mut tag = String::from_utf8_lossy(s).into_owned();
                // A custom tag names its standard role in the role map.
                if let Some(role) = rolemap.as_ref().and_then(|m| m.get(tag.as_bytes()).ok()).and_then(|r| r.as_name().ok()) {
                    tag = String::from_utf8_lossy(role).into_owned();
                }
                let alt = d
                    .get(b"Alt")
                    .ok()
                    .and_then(|a| a.as_str().ok())
                    .map(|a| lopdf::decode_text_string(&lopdf::Object::string_literal(a.to_vec())).unwrap_or_default());
                out.push(Elem { tag, alt, depth });
                if let Ok(k) = d.get(b"K") {
                    walk(doc, k, depth + 1, rolemap, out);
                }
            }
            _ => {}
        }
    }
    walk(&doc, root.get(b"K").unwrap(), 0, &rolemap, &mut out);
    out
}

#[test]
fn the_structure_tree_has_headings_tables_and_figures_in_reading_order() {
    let h = harness();
    let pdf = render_json(&h, &example_json("summary.json"));
    let tree = structure(&pdf);
    let tags: Vec<&str> = tree.iter().map(|e| e.tag.as_str()).collect();
    // The summary example: Overview, Ingest by format (a table, a chart), Trend (a chart).
    let order: Vec<&str> = tags.iter().copied().filter(|t| matches!(*t, "H1" | "Table" | "Figure")).collect();
    assert_eq!(order, ["H1", "H1", "Table", "Figure", "H1", "Figure"], "{tags:?}");
    // The table: header cells, then rows of data cells.
    let table = tags.iter().position(|t| *t == "Table").unwrap();
    let depth = tree[table].depth;
    let inside: Vec<&str> = tree[table + 1..].iter().take_while(|e| e.depth > depth).map(|e| e.tag.as_str()).collect();
    assert_eq!(&inside[..4], ["TR", "TH", "TH", "TH"], "{inside:?}");
    assert_eq!(inside.iter().filter(|t| **t == "TR").count(), 1 + 3, "{inside:?}");
    assert!(inside.iter().filter(|t| **t == "TD").count() == 9, "{inside:?}");
    // Every figure has alternative text: the chart's data in words.
    for f in tree.iter().filter(|e| e.tag == "Figure") {
        let alt = f.alt.as_deref().unwrap_or("");
        assert!(alt.contains("chart") && alt.len() > 40, "figure without alternative text: {f:?}");
    }
    // The DiAGRAM report: sections H1, subsections H2, one chart per model.
    let pdf = render_json(&h, &example_json("diagram.json"));
    let tree = structure(&pdf);
    let heads: Vec<&str> = tree.iter().map(|e| e.tag.as_str()).filter(|t| t.starts_with('H')).collect();
    assert_eq!(heads.first(), Some(&"H1"));
    assert!(heads.contains(&"H2"));
    let figures: Vec<&Elem> = tree.iter().filter(|e| e.tag == "Figure").collect();
    assert_eq!(figures.len(), 2, "one chart per model");
    assert!(figures.iter().all(|f| f.alt.as_deref().is_some_and(|a| a.contains("Bar chart of the scores"))), "{figures:?}");
    assert!(tree.iter().filter(|e| e.tag == "Table").count() >= 4);
}

#[test]
fn tagged_text_extracts_as_written_cjk_and_symbols_too() {
    let h = harness();
    let pdf = render_json(&h, &hostile());
    let text = pdf_text(&pdf);
    for s in ["Zoë", "Ελληνικά", "Кириллица", "漢字", "한국어", "😀", "🦀", r"\input{/etc/passwd}"] {
        assert!(text.contains(s), "{s:?} is not in the text:\n{text}");
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

fn detached(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a3.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdfdetach").arg("-list").arg(&path).output().expect("pdfdetach (poppler-utils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn poppler_meta(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pdf");
    std::fs::write(&path, pdf).unwrap();
    String::from_utf8_lossy(&Command::new("pdfinfo").arg("-meta").arg(&path).output().expect("pdfinfo").stdout).into_owned()
}

fn check<'a>(v: &'a reportq::provenance::Verification, name: &str) -> &'a reportq::provenance::Check {
    v.checks.iter().find(|c| c.check == name).unwrap_or_else(|| panic!("no {name} check: {:?}", v.checks))
}

/// #28: `a-3a` (tagged) and `a-3b` reports carry the request and a provenance record as
/// associated files, validate with no failed rule, and verify, a re-render included.
#[test]
fn a3_reports_carry_their_request_and_provenance_and_verify_by_rerendering() {
    let h = harness();
    for (name, req, standard) in [
        ("diagram", example_json("diagram.json"), "a-3a"),
        ("summary", example_json("summary.json"), "a-3a"),
        ("hostile", hostile(), "a-3a"),
        ("summary", example_json("summary.json"), "a-3b"),
    ] {
        let req = with_standard(req, standard);
        let pdf = render_json(&h, &req);
        let list = detached(&pdf);
        assert!(list.contains("request.json") && list.contains("provenance.json"), "{name} {standard}: {list}");
        let profiles: &[ValidationProfile] =
            if standard == "a-3a" { &[ValidationProfile::PdfA3a, ValidationProfile::PdfUa1] } else { &[ValidationProfile::PdfA3b] };
        for p in profiles {
            let fails = failures(&pdf, *p);
            assert!(fails.is_empty(), "{name} {standard} fails {p:?}:\n{}", fails.join("\n"));
        }
        // The XMP names both files (Dublin Core relation), with their hashes.
        let xmp = poppler_meta(&pdf);
        for f in ["request.json", "provenance.json"] {
            let li = xmp
                .lines()
                .find(|l| l.contains(&format!("<rdf:li>{f}:")))
                .unwrap_or_else(|| panic!("{name} {standard}: the XMP does not name {f}:\n{xmp}"));
            let sha = reportq::provenance::sha256(&reportq::provenance::embedded(&pdf).unwrap().into_iter().find(|(n, _)| n == f).unwrap().1);
            assert!(li.contains(&sha), "{li}");
        }
        // The embedded request is the one rendered; the provenance names this install.
        let files = reportq::provenance::embedded(&pdf).unwrap();
        let request: Value = serde_json::from_slice(&files.iter().find(|(n, _)| n == "request.json").unwrap().1).unwrap();
        assert_eq!(request, req);
        let mut v = reportq::verify::verify(&pdf, None);
        assert!(v.ok, "{name} {standard}: {:#?}", v.checks);
        let prov = v.provenance.clone().unwrap();
        assert_eq!((prov.template.name.as_str(), prov.pdf_standard.as_str()), (if name == "diagram" { "diagram" } else { "summary" }, standard));
        assert_eq!(prov.tex.bundle_sha256, h.renderer.bundle_sha256());
        assert_eq!(prov.job.created_epoch, 1_790_000_000);
        reportq::verify::rerender(&mut v, &h.renderer, None);
        assert!(v.ok, "{name} {standard}: {:#?}", v.checks);
        // The whole file again, byte for byte (nothing appended depends on the clock).
        assert_eq!(render_json(&h, &req), pdf, "{name} {standard}: not deterministic");
    }
}

/// What `verify` refuses, each with its reason: a changed byte in what TeX wrote, a swapped
/// request, provenance from another bundle, and a PDF that carries nothing.
#[test]
fn verify_names_a_changed_byte_a_swapped_request_and_another_bundle() {
    use reportq::provenance::{Provenance, attach, embedded};
    use reportq::verify::{rerender, verify};
    let h = harness();
    let req = with_standard(example_json("summary.json"), "a-3a");
    let pdf = render_json(&h, &req);
    let files = embedded(&pdf).unwrap();
    let file = |n: &str| files.iter().find(|(name, _)| name == n).unwrap().1.clone();
    let prov: Provenance = serde_json::from_slice(&file("provenance.json")).unwrap();
    let tex = &pdf[..prov.rendered.bytes as usize];

    // One byte of what TeX wrote changed: the XMP's PDF/A part (plain text) now claims 2.
    let at = tex.windows(13).position(|w| w == b"pdfaid:part>3").expect("the XMP's part") + 12;
    let mut changed = pdf.clone();
    changed[at] = b'2';
    let v = verify(&changed, None);
    assert!(!v.ok && !check(&v, "fixity").ok, "{:#?}", v.checks);
    assert!(check(&v, "fixity").detail.contains("changed"), "{}", check(&v, "fixity").detail);
    // Any byte, wherever it falls: the file fails to verify, and a check says why.
    for at in [prov.rendered.bytes as usize / 3, prov.rendered.bytes as usize / 2, prov.rendered.bytes as usize - 40] {
        let mut changed = pdf.clone();
        changed[at] ^= 0x20;
        let v = verify(&changed, None);
        let failed: Vec<_> = v.checks.iter().filter(|c| !c.ok).collect();
        assert!(!v.ok && !failed.is_empty() && !failed[0].detail.is_empty(), "byte {at}: {:#?}", v.checks);
    }

    // Another request embedded in place of the one rendered (the provenance left as it was).
    let mut other: Value = serde_json::from_slice(&file("request.json")).unwrap();
    other["params"]["title"] = json!("Something else entirely");
    let swapped = attach(tex.to_vec(), &serde_json::to_vec_pretty(&other).unwrap(), &file("provenance.json"), 1_790_000_000).unwrap();
    let v = verify(&swapped, None);
    assert!(!v.ok && !check(&v, "request").ok, "{:#?}", v.checks);
    assert!(check(&v, "request").detail.contains("swapped"), "{}", check(&v, "request").detail);

    // Provenance naming another TeX bundle: the file is intact, a re-render here is refused
    // and says which input differs.
    let mut elsewhere = prov.clone();
    elsewhere.tex.bundle_sha256 = "0".repeat(64);
    let moved = attach(tex.to_vec(), &file("request.json"), &serde_json::to_vec_pretty(&elsewhere).unwrap(), 1_790_000_000).unwrap();
    let mut v = verify(&moved, None);
    assert!(v.ok, "{:#?}", v.checks);
    rerender(&mut v, &h.renderer, None);
    assert!(!v.ok, "{:#?}", v.checks);
    assert!(check(&v, "rerender").detail.contains("TeX bundle: recorded 0000"), "{}", check(&v, "rerender").detail);

    // A report rendered without provenance (the default a-2a) carries nothing to check.
    let plain = render_json(&h, &example_json("summary.json"));
    let v = verify(&plain, None);
    assert!(!v.ok && check(&v, "embedded").detail.contains("a-3a"), "{:#?}", v.checks);
}

/// The heaviest report the model cap allows, tagged as every report is by default: 250 advanced
/// models (each model's probability tables from the DiAGRAM-shaped network, about seven pages
/// and 650 table cells a model). Until 12-04 it would have been untagged; the first one-pass
/// build held its 160,000 elements as dictionaries and passed the TeX child's 1 GiB cap.
#[test]
fn the_heaviest_report_the_cap_allows_is_tagged() {
    let example = example_json("diagram.json");
    let base = example["params"]["models"][0].clone();
    let scored = Command::new(env!("CARGO_BIN_EXE_reportq"))
        .args(["score", "-", "--model"])
        .arg(common::root().join("tests/fixtures/diagram-like.bif"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(base.to_string().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let nodes = serde_json::from_slice::<Value>(&scored.stdout).unwrap()["nodes"].clone();
    assert!(nodes.as_object().is_some_and(|n| n.len() > 10), "{nodes}");
    let n = reportq::domain::diagram::MAX_MODELS;
    let models: Vec<Value> = (0..n)
        .map(|i| {
            let mut m = base.clone();
            m["model_name"] = json!(format!("Advanced {i:03}"));
            m["scenario"] = json!("Base Model");
            m["response"] = Value::Null;
            m["is_advanced"] = json!(true);
            m["advanced"] = nodes.clone();
            m
        })
        .collect();
    let req = json!({"template": "diagram", "params": {"models": models}});
    let parsed = reportq::ReportRequest::from_value(req.clone()).unwrap();
    assert_eq!(parsed.pdf.standard, reportq::domain::PdfStandard::A2a);
    let pdf = render_json(&harness(), &req);
    let pages = pdf_pages(&pdf);
    assert!(pages > 7 * n, "{pages} pages");
    // Every page has its entry in the parent tree, and the tree holds a header cell per column
    // of every table and far more data cells.
    let tree = structure(&pdf);
    let count = |t: &str| tree.iter().filter(|e| e.tag == t).count();
    assert!(count("TD") > 100 * n && count("TH") > 10 * n && count("Figure") == n, "{} TD, {} TH", count("TD"), count("TH"));
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let root = doc.dereference(doc.catalog().unwrap().get(b"StructTreeRoot").unwrap()).unwrap().1.as_dict().unwrap().clone();
    let parent_tree = root.get(b"ParentTree").and_then(|p| p.as_dict()).unwrap();
    assert_eq!(parent_tree.get(b"Nums").and_then(|n| n.as_array()).unwrap().len(), 2 * pages);
}

/// The XMP packet, as Python's XML parser reads it: title, creator, description, keywords,
/// tool, producer, dates and the claimed parts, as JSON.
fn xmp_fields(xmp: &[u8]) -> Value {
    const READ: &str = r#"
import json, sys, xml.etree.ElementTree as ET
ns = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "dc": "http://purl.org/dc/elements/1.1/",
      "pdf": "http://ns.adobe.com/pdf/1.3/", "xmp": "http://ns.adobe.com/xap/1.0/",
      "pdfaid": "http://www.aiim.org/pdfa/ns/id/", "pdfuaid": "http://www.aiim.org/pdfua/ns/id/"}
root = ET.fromstring(sys.stdin.buffer.read())
def items(path):
    return [li.text for li in root.findall(".//" + path + "//rdf:li", ns)]
def one(path):
    found = root.findall(".//" + path, ns)
    return found[0].text if len(found) == 1 else None if not found else ["several"]
print(json.dumps({"title": items("dc:title"), "creator": items("dc:creator"), "description": items("dc:description"),
    "keywords": one("pdf:Keywords"), "tool": one("xmp:CreatorTool"), "producer": one("pdf:Producer"),
    "created": one("xmp:CreateDate"), "modified": one("xmp:ModifyDate"), "language": items("dc:language"),
    "part": one("pdfaid:part"), "conformance": one("pdfaid:conformance"), "ua": one("pdfuaid:part")}))
"#;
    let mut child =
        Command::new("python3").args(["-c", READ]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().expect("python3");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(xmp).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the XMP packet is not well-formed XML:\n{}", String::from_utf8_lossy(xmp));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// #24: reportq writes the XMP packet (src/xmp.rs), not LaTeX. For every PDF/A flavour, hostile
/// text included, it says what the information dictionary says (PDF/A requires the two to agree,
/// and the validator does not check it), the title whole (LaTeX's split it at commas), and names
/// the standards the file claims.
#[test]
fn the_xmp_packet_agrees_with_the_information_dictionary() {
    let h = harness();
    for (name, req) in [("diagram", example_json("diagram.json")), ("summary", example_json("summary.json")), ("hostile", hostile())] {
        for standard in ["a-2a", "a-2b", "a-3a", "a-3b"] {
            let pdf = render_json(&h, &with_standard(req.clone(), standard));
            let doc = lopdf::Document::load_mem(&pdf).unwrap();
            let catalog = doc.catalog().unwrap();
            let meta = catalog.get(b"Metadata").and_then(|m| m.as_reference()).expect("a metadata stream");
            let stream = doc.get_object(meta).and_then(|o| o.as_stream()).unwrap();
            assert!(!stream.dict.has(b"Filter"), "{name} {standard}: the packet is compressed");
            let x = xmp_fields(&stream.content);
            let info = doc.trailer.get(b"Info").and_then(|i| i.as_reference()).and_then(|id| doc.get_dictionary(id)).unwrap();
            // Each entry TeX wrote (the summary example has no keywords), as text.
            let text = |k: &[u8]| -> Option<String> {
                let s = info.get(k).ok()?.as_str().unwrap_or_else(|_| panic!("{name} {standard}: /{} is not a string", String::from_utf8_lossy(k)));
                Some(lopdf::decode_text_string(&lopdf::Object::string_literal(s.to_vec())).unwrap())
            };
            let list = |k: &[u8]| json!(text(k).into_iter().collect::<Vec<_>>());
            let at = format!("{name} {standard}");
            assert!(text(b"Title").is_some() && text(b"Author").is_some(), "{at}: the title and author are in the information dictionary");
            assert_eq!(x["title"], list(b"Title"), "{at}");
            assert_eq!(x["creator"], list(b"Author"), "{at}");
            assert_eq!(x["description"], list(b"Subject"), "{at}");
            assert_eq!(x["keywords"], json!(text(b"Keywords")), "{at}");
            assert_eq!(x["tool"], json!(text(b"Creator")), "{at}");
            assert_eq!(x["producer"], json!(text(b"Producer")), "{at}");
            let iso = |d: &str| d.replace(['-', ':', 'T'], "");
            assert_eq!(Some(format!("D:{}", iso(x["created"].as_str().unwrap()))), text(b"CreationDate"), "{at}");
            assert_eq!(Some(format!("D:{}", iso(x["modified"].as_str().unwrap()))), text(b"ModDate"), "{at}");
            assert_eq!(x["language"], json!([req["params"]["language"].as_str().unwrap_or("en-GB")]), "{at}");
            assert_eq!(x["part"], json!(&standard[2..3]), "{at}");
            assert_eq!(x["conformance"], json!(standard[3..].to_uppercase()), "{at}");
            assert_eq!(x["ua"], if standard.ends_with('a') { json!("1") } else { Value::Null }, "{at}");
        }
    }
    // The hostile request's title is its text as written: markup, quotes and emoji survive the
    // trip through TeX's information dictionary and the packet's escaping.
    let pdf = render_json(&h, &with_standard(hostile(), "a-2b"));
    let meta = poppler_meta(&pdf);
    assert!(meta.contains("&lt;b&gt;\"q\"&lt;/b&gt;") && meta.contains("😀"), "{meta}");
}

/// #24: the metadata is the request's text as written, in the information dictionary of every
/// flavour LaTeX's PDF management makes and of a plain PDF. Through hyperref, TeX specials came
/// out as `\textbackslash`, `&` was lost, and the hostile request failed as a plain PDF
/// (`\rqsym` undefined in its title).
#[test]
fn the_metadata_is_the_request_s_text_as_written() {
    let h = harness();
    let text = hostile()["params"]["title"].as_str().unwrap().to_string();
    for standard in ["none", "a-2b", "a-2a", "a-3b"] {
        let pdf = render_json(&h, &with_standard(hostile(), standard));
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        let info = doc.trailer.get(b"Info").and_then(|i| i.as_reference()).and_then(|id| doc.get_dictionary(id)).unwrap();
        for key in [&b"Title"[..], b"Author"] {
            let s = info.get(key).and_then(|t| t.as_str()).unwrap();
            let s = lopdf::decode_text_string(&lopdf::Object::string_literal(s.to_vec())).unwrap();
            assert_eq!(s, text, "{standard}: /{}", String::from_utf8_lossy(key));
        }
        // poppler reads the same.
        let out = poppler_info(&pdf);
        assert!(out.lines().any(|l| l.starts_with("Title:") && l.ends_with(&text)), "{standard}:\n{out}");
    }
    // Characters neither XML nor a reader can take (a control character, U+FFFE) are left out
    // and a carriage return is a line feed, the same in the dictionary and the packet (which
    // stays well-formed: xmp_fields parses it).
    let mut req = with_standard(hostile(), "a-2b");
    req["params"]["title"] = json!("A\u{7}B\r\nC\u{FFFE}\tD\rE");
    let pdf = render_json(&h, &req);
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let info = doc.trailer.get(b"Info").and_then(|i| i.as_reference()).and_then(|id| doc.get_dictionary(id)).unwrap();
    let title = lopdf::decode_text_string(&lopdf::Object::string_literal(info.get(b"Title").and_then(|t| t.as_str()).unwrap().to_vec())).unwrap();
    assert_eq!(title, "AB\nC\tD\nE");
    let meta = doc.catalog().unwrap().get(b"Metadata").and_then(|m| m.as_reference()).unwrap();
    assert_eq!(xmp_fields(&doc.get_object(meta).and_then(|o| o.as_stream()).unwrap().content)["title"], json!([title]));
}

fn poppler_info(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.pdf");
    std::fs::write(&path, pdf).unwrap();
    String::from_utf8_lossy(&Command::new("pdfinfo").arg(&path).output().expect("pdfinfo").stdout).into_owned()
}
