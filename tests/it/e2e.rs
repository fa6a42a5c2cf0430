//! End to end, as a developer runs it: `reportq serve` and `reportq worker` processes on a
//! real LocalStack, requests over real HTTP, and the `reportq submit` client.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::aws::{LocalStack, process_env, resources};
use common::spawn;
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_reportq");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submit_render_poll_download_over_http() {
    let ls = LocalStack::start();
    let res = resources(&ls.endpoint, 30, 3);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let env = process_env(&res, port, &[]);
    let _api = spawn(&["serve"], &env);
    let http = reqwest::Client::new();
    let end = Instant::now() + Duration::from_secs(20);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < end, "reportq serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut request: Value = serde_json::from_slice(&std::fs::read(common::root().join("examples/diagram.json")).unwrap()).unwrap();
    request["params"]["organisation"] = json!("Ravenscar Borough Archive");
    let r = http.post(format!("{base}/v1/reports")).json(&request).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "queued");
    assert_eq!(location, body["links"]["self"]);

    let poll = || async { http.get(format!("{base}{location}")).send().await.unwrap().json::<Value>().await.unwrap() };
    let mut seen = vec![poll().await["status"].as_str().unwrap().to_string()];
    assert_eq!(seen[0], "queued", "no worker yet");

    let _worker = spawn(&["worker"], &env);
    let end = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let j = poll().await;
        let st = j["status"].as_str().unwrap().to_string();
        if seen.last() != Some(&st) {
            seen.push(st.clone());
        }
        if st == "succeeded" || st == "failed" {
            break j;
        }
        assert!(Instant::now() < end, "job not done: {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(seen, ["queued", "running", "succeeded"], "{job}");
    assert_eq!(job["attempts"], 1);
    assert!(job["result"]["expires_at"].as_str().unwrap().ends_with('Z'));

    // A plain HTTP client with no credentials fetches the PDF from the presigned URL.
    let pdf = reqwest::get(job["result"]["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(pdf.status(), 200);
    let pdf = pdf.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(pdf.len() as u64, job["result"]["size"].as_u64().unwrap());
    let text = common::squash(&common::pdf_text(&pdf));
    assert!(text.contains("RavenscarBoroughArchive"), "{text}");
    assert!(text.contains("CountyRecordOffice"));

    // The command-line client: one request, then a batch from a folder, both waited for.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("one.pdf");
    let st = Command::new(EXE)
        .args(["submit", "--wait", "--url", &base, "-o"])
        .arg(&out)
        .arg(common::root().join("tests/fixtures/diagram-small.json"))
        .status()
        .unwrap();
    assert!(st.success());
    assert!(std::fs::read(&out).unwrap().starts_with(b"%PDF-"));
    let reqs = dir.path().join("reqs");
    std::fs::create_dir(&reqs).unwrap();
    for i in 0..3 {
        let mut r: Value = serde_json::from_slice(&std::fs::read(common::root().join("tests/fixtures/diagram-small.json")).unwrap()).unwrap();
        r["params"]["organisation"] = json!(format!("CLI Batch {i}"));
        std::fs::write(reqs.join(format!("r{i}.json")), r.to_string()).unwrap();
    }
    let outdir = dir.path().join("pdfs");
    let st = Command::new(EXE).args(["submit", "--batch", "--wait", "--url", &base, "-o"]).arg(&outdir).arg(&reqs).status().unwrap();
    assert!(st.success());
    for i in 0..3 {
        let pdf = std::fs::read(outdir.join(format!("r{i}.pdf"))).unwrap();
        assert!(common::squash(&common::pdf_text(&pdf)).contains(&format!("CLIBatch{i}")));
    }
}
