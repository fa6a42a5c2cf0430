//! Scoring from the command line and in the report ("Where to improve first").

use crate::common;

use std::process::Command;
use std::sync::Arc;

use common::*;
use reportq::ReportRequest;

fn fixture(name: &str) -> std::path::PathBuf {
    root().join("tests/fixtures").join(name)
}

fn reportq(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reportq")).args(args).env_remove("REPORTQ_DIAGRAM_MODEL").output().unwrap()
}

#[test]
fn score_command_prints_the_engine_s_answer() {
    let out = reportq(&["score", fixture("model.json").to_str().unwrap(), "--model", fixture("diagram-like.bif").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let scorer = (*reportq::scoring::load(Some(&fixture("diagram-like.bif"))).unwrap()).clone();
    let model: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture("model.json")).unwrap()).unwrap();
    let expected = scorer.score_value(&model).unwrap();
    assert_eq!(printed["intellectual_control"].as_f64().unwrap(), expected.intellectual_control);
    assert_eq!(printed["renderability"].as_f64().unwrap(), expected.renderability);
    assert_eq!(printed["nodes"].as_object().unwrap().len(), 21);
}

/// A refused model names the answer that is wrong, as the API's `field` does, and which model
/// of a file of several.
#[test]
fn a_refused_model_names_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut model: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture("model.json")).unwrap()).unwrap();
    model["response"]["Checksum"] = serde_json::json!([50, 10, 10]);
    let bif = fixture("diagram-like.bif");
    for (name, body, field) in
        [("one.json", model.clone(), "response.Checksum"), ("two.json", serde_json::json!([model.clone(), model]), "[0].response.Checksum")]
    {
        let path = dir.path().join(name);
        std::fs::write(&path, body.to_string()).unwrap();
        for extra in [None, Some("--improvements")] {
            let mut args = vec!["score", path.to_str().unwrap(), "--model", bif.to_str().unwrap()];
            args.extend(extra);
            let out = reportq(&args);
            assert!(!out.status.success());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&format!("{field}: ")) && err.contains("sum to 70"), "{name} {extra:?}: {err}");
        }
    }
}

#[test]
fn score_without_a_network_names_the_setting_and_the_script() {
    let out = reportq(&["score", fixture("model.json").to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("REPORTQ_DIAGRAM_MODEL") && err.contains("scripts/fetch-diagram-model.sh"), "{err}");
}

#[test]
fn report_ranks_improvements_when_a_network_is_configured() {
    let h = harness();
    let req = ReportRequest::from_slice(&example("diagram.json")).unwrap();
    let scorer = Arc::new((*reportq::scoring::load(Some(&fixture("diagram-like.bif"))).unwrap()).clone());
    let with = h.renderer.render(&req, &ctx(&req).with_scorer(Some(scorer.clone()))).unwrap().pdf;
    let without = h.renderer.render(&req, &ctx(&req)).unwrap().pdf;
    let text = squash(&pdf_text(&with));
    assert!(text.contains("Wheretoimprovefirst"));
    assert!(!squash(&pdf_text(&without)).contains("Wheretoimprovefirst"));

    // The first row is the engine's best single change for the first baseline.
    let json: serde_json::Value = serde_json::from_slice(&example("diagram.json")).unwrap();
    let best = &scorer.improvements_value(&json["params"]["models"][0]).unwrap()[0];
    let topic = best.question().topic();
    let section = &text[text.find("Wheretoimprovefirst").unwrap()..];
    let first_row = section.find(&squash(topic)).expect("best topic listed");
    for other in reportq::domain::diagram::Question::ALL.iter().filter(|q| **q != best.question()) {
        if let Some(pos) = section[..section.find("Comments").unwrap()].find(&squash(other.topic())) {
            assert!(pos > first_row, "{other:?} ranked above the best change {:?}", best.question());
        }
    }
    assert!(text.contains(&format!("(+{:.1})", best.gain_renderability.max(best.gain_intellectual_control))));
}

/// An `a-3a` DiAGRAM report scored with a network records the network's SHA-256; a re-render
/// without that network is refused and names it, and with it TeX's bytes come out identical.
#[test]
fn a_scored_report_rerenders_only_with_its_network() {
    let dir = tempfile::tempdir().unwrap();
    let mut req: serde_json::Value = serde_json::from_slice(&example("diagram.json")).unwrap();
    req["pdf"] = serde_json::json!({ "standard": "a-3a" });
    let (req_path, pdf_path) = (dir.path().join("req.json"), dir.path().join("report.pdf"));
    std::fs::write(&req_path, req.to_string()).unwrap();
    let bif = fixture("diagram-like.bif");
    let (bif_s, pdf_s) = (bif.to_str().unwrap(), pdf_path.to_str().unwrap());
    let out = reportq(&["render", req_path.to_str().unwrap(), "-o", pdf_s, "--epoch", "1790000000", "--model", bif_s]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pdf = std::fs::read(&pdf_path).unwrap();
    let v = reportq::verify::verify(&pdf, None);
    assert!(v.ok, "{:#?}", v.checks);
    let recorded = v.provenance.unwrap().diagram_network_sha256;
    assert_eq!(recorded.as_deref(), Some(reportq::provenance::sha256(&std::fs::read(&bif).unwrap()).as_str()));

    let out = reportq(&["verify", pdf_s, "--rerender"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && text.contains("FAIL rerender") && text.contains("DiAGRAM network: recorded"), "{text}");
    let out = reportq(&["verify", pdf_s, "--rerender", "--model", bif_s]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("ok   rerender"), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
}
