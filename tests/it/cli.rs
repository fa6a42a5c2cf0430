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

/// A telemetry setting that is not one of its values stops the command before it does
/// anything, naming the variable; a valid one in any case is taken.
#[test]
fn a_misspelt_telemetry_setting_stops_the_command_and_names_it() {
    for (name, value) in [("REPORTQ_METRICS", "emff"), ("REPORTQ_LOG_FORMAT", "jsonl")] {
        let out = Command::new(env!("CARGO_BIN_EXE_reportq")).args(["templates", "--json"]).env(name, value).output().unwrap();
        assert!(!out.status.success() && out.stdout.is_empty(), "{name}={value} was ignored");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name) && err.contains(value) && err.contains("must be one of"), "{err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_reportq")).args(["templates", "--json"]).env("REPORTQ_METRICS", "OFF").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `reportq webhook verify` as an integrator runs it: the specification's published vector
/// verifies (body from a file and from standard input), a changed body or id does not, and a
/// made secret has the whsec_ form and signs what verify accepts.
#[test]
fn webhook_verify_checks_signatures_as_a_receiver_would() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, br#"{"test": 2432232314}"#).unwrap();
    let args = |id: &str, body: &str| -> Vec<String> {
        [
            "webhook",
            "verify",
            "--secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "--id",
            id,
            "--timestamp",
            "1614265330",
            "--signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "--tolerance",
            "0",
            "--body-file",
            body,
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |a: Vec<String>| Command::new(env!("CARGO_BIN_EXE_reportq")).args(a).output().unwrap();
    let ok = run(args("msg_p5jXN8AQM9LWM0D4loKWxJek", body.to_str().unwrap()));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "valid");
    let bad = run(args("msg_other", body.to_str().unwrap()));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no v1 signature"), "{}", String::from_utf8_lossy(&bad.stderr));
    // The default tolerance refuses a 2021 timestamp.
    let mut stale = args("msg_p5jXN8AQM9LWM0D4loKWxJek", body.to_str().unwrap());
    stale.retain(|a| a != "--tolerance" && a != "0");
    let out = run(stale);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("tolerance"));
    // Standard input, byte for byte.
    use std::io::Write;
    let mut a = args("msg_p5jXN8AQM9LWM0D4loKWxJek", "-");
    a.truncate(a.len() - 2);
    let mut child = Command::new(env!("CARGO_BIN_EXE_reportq"))
        .args(a)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(br#"{"test": 2432232314}"#).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    // A made secret is usable.
    let made = reportq(&["webhook", "secret"]);
    let secret = String::from_utf8(made.stdout).unwrap().trim().to_string();
    let s = reportq::domain::webhook::Secret::parse(&secret).unwrap();
    assert!(secret.starts_with("whsec_"));
    let sig = s.sign("msg_1", 1, b"{}");
    std::fs::write(&body, b"{}").unwrap();
    let out = reportq(&[
        "webhook",
        "verify",
        "--secret",
        &secret,
        "--id",
        "msg_1",
        "--timestamp",
        "1",
        "--signature",
        &sig,
        "--tolerance",
        "0",
        "--body-file",
        body.to_str().unwrap(),
    ]);
    assert!(out.status.success());
}

/// `-o` naming a FIFO (or a device such as /dev/null) writes into it and leaves it what it
/// was: the write-beside-and-rename that protects a reader of a regular file would replace it
/// (run as root, `reportq render -o /dev/null` once turned /dev/null into a regular file).
#[test]
fn output_to_a_pipe_or_device_is_written_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let out = reportq(&["render", root().join("examples/summary.json").to_str().unwrap(), "-f", "csv", "-o", fifo.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = reader.join().unwrap();
    assert!(String::from_utf8_lossy(&got).contains("Ingest by format"), "the CSV came through the pipe");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced by a file");
    assert!(!dir.path().join("out.partial").exists());
}
