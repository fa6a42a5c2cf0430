//! The `reportq` command line as a user runs it.

use crate::common;

use std::process::Command;

use common::*;

fn reportq(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reportq")).args(args).output().unwrap()
}

#[test]
fn render_writes_pdf_png_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let ex = root().join("examples/diagram.json");
    for (format, magic) in [
        ("pdf", &b"%PDF-"[..]),
        ("png", &b"\x89PNG\r\n"[..]),
        ("csv", &b"name,scenario,notes,topic,question,part,response,intellectual_control,renderability\r\n"[..]),
    ] {
        let out_path = dir.path().join(format!("out.{format}"));
        let out = reportq(&["render", ex.to_str().unwrap(), "-f", format, "-o", out_path.to_str().unwrap()]);
        assert!(out.status.success(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
        let bytes = std::fs::read(&out_path).unwrap();
        assert!(bytes.starts_with(magic), "{format} output starts with {:?}", &bytes[..8.min(bytes.len())]);
    }
    // One CSV row per answered question part: 32 parts per model (3+3+3+2+2+1+4+4+10), 6 models.
    let csv = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    assert_eq!(csv.split("\r\n").filter(|l| !l.is_empty()).count(), 1 + 6 * 32);
    assert!(!dir.path().join("out.partial").exists());
}

#[test]
fn csv_quotes_fields_per_rfc_4180() {
    let dir = tempfile::tempdir().unwrap();
    let mut req: serde_json::Value = serde_json::from_slice(&example("diagram.json")).unwrap();
    req["params"]["models"][0]["notes"] = serde_json::json!("Said \"no\", then\nyes");
    let input = dir.path().join("req.json");
    std::fs::write(&input, serde_json::to_vec(&req).unwrap()).unwrap();
    let out = reportq(&["render", input.to_str().unwrap(), "-f", "csv", "-o", "-"]);
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.contains("County Record Office,Base Model,\"Said \"\"no\"\", then\nyes\",Digital object type"), "{}", &csv[..400]);
}

#[test]
fn a_bad_request_names_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.json");
    std::fs::write(&input, br#"{"template": "summary", "params": {"title": "", "sections": []}}"#).unwrap();
    let target = dir.path().join("report.pdf");
    let out = reportq(&["render", input.to_str().unwrap(), "-o", target.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("params.title") && err.contains("must not be empty"), "{err}");
    assert!(!target.exists());

    std::fs::write(&input, b"{\"template\": ").unwrap();
    let out = reportq(&["render", input.to_str().unwrap(), "-o", target.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("EOF"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn templates_lists_both_templates_with_their_parameters() {
    let out = reportq(&["templates", "--json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["diagram", "summary"]);
    assert!(list[1]["params"].as_array().unwrap().iter().any(|p| p["name"] == "sections" && p["required"] == true));
    let help = reportq(&["render", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--format"));
}
