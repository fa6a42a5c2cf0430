//! Real renders through the confined TeX child, read back with poppler.

use crate::common;

use std::time::Duration;

use common::*;
use reportq::template::{DocMeta, Prepared};
use reportq::{RenderError, ReportRequest};
use serde_json::json;

fn summary(paragraph: &str) -> serde_json::Value {
    json!({"template": "summary", "params": {
        "title": "Escaping check", "author": "reportq tests",
        "sections": [{"heading": "Body", "paragraphs": [paragraph]}]}})
}

pub(crate) fn prepared(tex: &str) -> Prepared {
    Prepared {
        tex: tex.to_string(),
        assets: vec![],
        meta: DocMeta { title: "t".into(), author: "a".into(), subject: String::new(), keywords: vec![], language: "en".into() },
    }
}

pub(crate) fn plain_ctx() -> reportq::template::RenderContext {
    reportq::template::RenderContext::new(reportq::template::Date::from_epoch(0), reportq::request::PdfStandard::None)
}

#[test]
fn diagram_example_has_its_text_numbers_and_charts() {
    let h = harness();
    let json: serde_json::Value = serde_json::from_slice(&example("diagram.json")).unwrap();
    let pdf = render_json(&h, &json);
    assert!(pdf.starts_with(b"%PDF-"));
    let text = squash(&pdf_text(&pdf));
    for needle in [
        "DiAGRAM",
        "CountyRecordOffice",
        "UniversitySpecialCollections",
        "Checksumsoningest",
        "Secondcopyoffsite",
        "57.4",
        "61.2",
        "74.8",
        "12.3", // the renderability gain of "Checksums on ingest" over the baseline
        "Ourcollectionasitstoodatthe2026audit.",
        "Baselineanswers",
        "Nocommentswererecorded.",
        "Shareofthecollectionthatwasborndigital",
        "Scenarioresponse",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from the PDF text");
    }
    // One chart per model, embedded as images.
    assert_eq!(pdf_images(&pdf), 2);
    let pages = pdf_pages(&pdf);
    assert!((4..=20).contains(&pages), "{pages} pages");
    assert!(h.leftovers().is_empty(), "left behind: {:?}", h.leftovers());
}

#[test]
fn summary_example_has_tables_and_charts() {
    let h = harness();
    let json: serde_json::Value = serde_json::from_slice(&example("summary.json")).unwrap();
    let pdf = render_json(&h, &json);
    let text = squash(&pdf_text(&pdf));
    for needle in ["Quarterlydigitisationsummary", "DigitalPreservationTeam", "Ingestbyformat", "TIFF", "1,530", "Costs&risks", "Replicationcaughtup"]
    {
        assert!(text.contains(needle), "{needle:?} missing");
    }
    assert_eq!(pdf_images(&pdf), 2);
    assert!((1..=5).contains(&pdf_pages(&pdf)));
}

#[test]
fn latex_specials_and_unicode_come_out_literally() {
    let h = harness();
    let specials = r#"& % $ # _ { } ~ ^ \ [x] -- `q' "d" <a|b>"#;
    let unicode = "Zoë Ångström naïve façade Ελληνικά Кириллица € – “quoted” 漢字 日本語 한국어 😀 🦀 ♞";
    let pdf = render_json(&h, &summary(&format!("S:{specials} U:{unicode} END")));
    let text = pdf_text(&pdf);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(&format!("S:{specials} U:{unicode} END")), "text was:\n{flat}");
}

#[test]
fn injection_attempts_are_printed_not_run() {
    let h = harness();
    let marker = std::env::temp_dir().join(format!("reportq-pwned-{}", std::process::id()));
    let attacks = [
        r"\input{/etc/passwd}".to_string(),
        format!(r"\immediate\write18{{touch {}}}", marker.display()),
        r"\catcode`\%=12 \def\x{y}\x".to_string(),
        r"\csname input\endcsname{/etc/hostname} ^^5cinput{/etc/passwd}".to_string(),
        r"\openin5=/etc/passwd \read5 to\l \l".to_string(),
    ];
    let pdf = render_json(&h, &summary(&attacks.join(" | ")));
    let text = squash(&pdf_text(&pdf));
    for a in &attacks {
        assert!(text.contains(&squash(a)), "{a:?} not printed literally in {text}");
    }
    assert!(!text.contains("root:x:0:0"), "/etc/passwd leaked into the PDF");
    assert!(!marker.exists(), "a shell command ran");
}

#[test]
fn looping_document_times_out_and_the_next_render_works() {
    let h = harness_with(|c| c.timeout = Duration::from_secs(3));
    let t = std::time::Instant::now();
    let err = h.renderer.render_prepared(&prepared(r"\def\x{\x}\x"), &plain_ctx()).expect_err("an endless loop cannot succeed");
    assert!(matches!(err, RenderError::Timeout(_)), "{err}");
    assert!(t.elapsed() < Duration::from_secs(8), "the deadline was not enforced: {:?}", t.elapsed());
    assert!(!err.to_string().is_empty());
    let pdf = render_json(&h, &summary("after the loop"));
    assert!(squash(&pdf_text(&pdf)).contains("aftertheloop"));
    assert!(h.leftovers().is_empty(), "left behind: {:?}", h.leftovers());
}

#[test]
fn memory_hungry_document_is_stopped() {
    let h = harness_with(|c| {
        c.memory_mb = 400;
        c.timeout = Duration::from_secs(30);
    });
    let err = h
        .renderer
        .render_prepared(&prepared(r"\documentclass{article}\begin{document}\def\x{a\x}\x\end{document}"), &plain_ctx())
        .expect_err("unbounded growth cannot succeed");
    eprintln!("memory hog: {err}");
    assert!(matches!(err, RenderError::Memory(400)), "{err}");
    let pdf = render_json(&h, &summary("after the memory hog"));
    assert!(squash(&pdf_text(&pdf)).contains("afterthememoryhog"));
}

#[test]
fn a_template_cannot_read_host_files() {
    let h = harness();
    // Written by a template author, not a user: only the sandbox stands in the way.
    let tex = r"\documentclass{article}\begin{document}[\input{/etc/passwd}]\end{document}";
    match h.renderer.render_prepared(&prepared(tex), &plain_ctx()) {
        Ok(r) => {
            assert!(!pdf_text(&r.pdf).contains("root:"), "the child read /etc/passwd");
            panic!("expected the \\input to fail, got a PDF (sandbox: {})", r.sandbox);
        }
        Err(RenderError::Tex { log_excerpt, .. }) => {
            assert!(!log_excerpt.contains("root:x:0:0"), "{log_excerpt}");
        }
        Err(e) => panic!("unexpected error {e}"),
    }
    // \openin does not raise an error: it finds nothing, and the document says so.
    let tex = r"\documentclass{article}\begin{document}\newread\r\openin\r=/etc/passwd \ifeof\r CLOSED\else\read\r to\l OPEN:\l\fi\end{document}";
    let r = h.renderer.render_prepared(&prepared(tex), &plain_ctx()).unwrap();
    let text = pdf_text(&r.pdf);
    assert!(text.contains("CLOSED"), "{text} (sandbox: {})", r.sandbox);
    assert!(r.sandbox.starts_with("io+seccomp"), "every layer this machine gives: {}", r.sandbox);
}

#[test]
fn parameter_errors_name_the_field_and_render_nothing() {
    let mut json: serde_json::Value = serde_json::from_slice(&example("diagram.json")).unwrap();
    json["params"]["models"][1]["response"]["Checksum"] = json!([50, 30, 30]);
    let err = ReportRequest::from_value(json.clone()).unwrap_err();
    assert_eq!(err.field, "params.models[1].response.Checksum");
    assert!(err.message.contains("Checksums on ingest") && err.message.contains("sum to 110"), "{}", err.message);

    // Through the command that renders: it refuses before any TeX child starts, so neither
    // an output file nor a job folder appears (its TMPDIR is watched).
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let request = dir.path().join("bad.json");
    std::fs::write(&request, serde_json::to_vec(&json).unwrap()).unwrap();
    let out = dir.path().join("out.pdf");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_reportq"))
        .args(["render", request.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .env("TMPDIR", tmp.path())
        .env("REPORTQ_TEX_BUNDLE", common::render_config(std::path::Path::new("reportq")).bundle)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("params.models[1].response.Checksum"), "{stderr}");
    assert!(!out.exists() && !dir.path().join("out.partial").exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "a render started");

    json["params"]["models"][0]["renderability"] = json!(101);
    assert_eq!(ReportRequest::from_value(json.clone()).unwrap_err().field, "params.models[0].renderability");

    let err =
        ReportRequest::from_value(json!({"template": "summary", "params": {"title": "t", "sections": [{"heading": "h", "colour": 1}]}})).unwrap_err();
    assert_eq!(err.field, "params.sections[0].colour");
    assert!(err.message.contains("colour"), "{}", err.message);

    let err = ReportRequest::from_value(json!({"template": "nope", "params": {}})).unwrap_err();
    assert_eq!(err.field, "template");
}

#[test]
fn tex_errors_carry_the_log_excerpt() {
    let h = harness();
    let err = h.renderer.render_prepared(&prepared(r"\documentclass{article}\begin{document}\nosuchmacro\end{document}"), &plain_ctx()).unwrap_err();
    match &err {
        RenderError::Tex { log_excerpt, .. } => assert!(log_excerpt.contains("Undefined control sequence"), "{log_excerpt}"),
        other => panic!("expected a TeX error, got {other}"),
    }
    assert!(err.is_permanent());
    assert!(h.leftovers().is_empty(), "left behind: {:?}", h.leftovers());
}

#[test]
fn concurrent_renders_do_not_interfere() {
    let h = std::sync::Arc::new(harness());
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let h = h.clone();
            std::thread::spawn(move || {
                let pdf = render_json(&h, &summary(&format!("unique-marker-{i}")));
                (i, squash(&pdf_text(&pdf)))
            })
        })
        .collect();
    for t in threads {
        let (i, text) = t.join().unwrap();
        for j in 0..4 {
            assert_eq!(text.contains(&format!("unique-marker-{j}")), i == j, "render {i} shows marker {j}");
        }
    }
    assert!(h.leftovers().is_empty());
}

#[test]
fn a_missing_bundle_is_a_clear_error() {
    let mut cfg = common::render_config(std::path::Path::new(env!("CARGO_BIN_EXE_reportq")));
    cfg.bundle = "/nonexistent/bundle".into();
    let err = reportq::Renderer::new(cfg).err().expect("no bundle, no renderer").to_string();
    assert!(err.contains("/nonexistent/bundle") && err.contains("scripts/tex-bundle.sh"), "{err}");
}

/// Found by hand after the soak: a valid request whose escaped text made one TeX source line
/// longer than XeTeX's 200,000-byte line buffer failed with "unable to read an entire line"
/// (a 20,000-character paragraph of `~`, or a chart at its size limits, whose description
/// lists every value on one line).
#[test]
fn values_at_their_size_limits_render() {
    let h = harness();
    let cats: Vec<String> = (0..100).map(|i| format!("{}{}", "x".repeat(299), i % 10)).collect();
    let series: Vec<serde_json::Value> =
        (0..7).map(|j| json!({"name": "S".repeat(300), "values": (0..100).map(|i| ((i * j) % 17) as f64 - 8.0).collect::<Vec<_>>()})).collect();
    let req = json!({"template": "summary", "params": {"title": "Limits", "sections": [{
        "heading": "Long values",
        "paragraphs": ["~".repeat(20_000), "alpha beta ".repeat(1_800)],
        "charts": [{"title": "C", "kind": "bar", "categories": cats, "series": series}]}]}});
    let pdf = render_json(&h, &req);
    let text = pdf_text(&pdf);
    assert_eq!(text.matches('~').count(), 20_000, "every tilde printed once");
    let words: Vec<&str> = text.split_whitespace().filter(|w| w.starts_with("alpha") || w.starts_with("beta")).collect();
    assert!(!words.iter().any(|w| w.contains("alphabeta") || w.contains("betaalpha")), "a line cut swallowed a space");
    assert!(words.len() >= 3_500, "only {} of 3,600 words found", words.len());
}
