//! The sandbox never weakens silently. The kernel's layers are taken away the way AWS Lambda
//! takes them ([`common::on_lambda`]: `prctl` refused, no Landlock): a render still works,
//! confined by the I/O allow-list, and its timeline says `io`; an operator who requires a
//! kernel layer (`REPORTQ_REQUIRE_SANDBOX=io+landlock`) gets refusals instead (the worker's
//! job goes back to the queue, retried), never an unconfined render. A TeX child gets no
//! descriptor of its parent's but its three pipes.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::app::{Opts, app};
use common::aws::{LocalStack, spawn_logged};
use common::on_lambda::as_on_lambda;
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_reportq");

fn render_cmd(out: &std::path::Path) -> Command {
    let mut cmd = Command::new(EXE);
    cmd.arg("render").arg(common::root().join("examples/summary.json")).arg("-o").arg(out).arg("--epoch").arg("0");
    cmd.env_remove("REPORTQ_REQUIRE_SANDBOX").stdin(Stdio::null());
    cmd
}

#[test]
fn without_the_kernel_layers_a_render_is_confined_by_the_allow_list_unless_the_operator_requires_more() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.pdf");
    // As on Lambda, the default: it renders.
    let mut lambda = render_cmd(&out);
    as_on_lambda(&mut lambda);
    let r = lambda.output().unwrap();
    assert!(r.status.success() && out.exists(), "{}", String::from_utf8_lossy(&r.stderr));
    std::fs::remove_file(&out).unwrap();

    // An operator who requires Landlock is refused, with the reason.
    let mut strict = render_cmd(&out);
    strict.env("REPORTQ_REQUIRE_SANDBOX", "io+landlock");
    as_on_lambda(&mut strict);
    let r = strict.output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && !out.exists(), "rendered without a required layer: {err}");
    assert!(err.contains("refused to render") && err.contains("landlock required") && err.contains("REPORTQ_REQUIRE_SANDBOX"), "{err}");

    // The old on/off values are an error that says what the variable means now.
    let mut old = render_cmd(&out);
    old.env("REPORTQ_REQUIRE_SANDBOX", "1");
    let r = old.output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("REPORTQ_REQUIRE_SANDBOX") && err.contains("io+seccomp"), "{err}");
}

/// (start, end) of each render in a job's timeline, in ms.
fn render_spans(job: &Value) -> Vec<(i64, i64)> {
    job["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "rendered")
        .map(|e| {
            let end = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap().timestamp_millis();
            (end - e["ms"].as_i64().unwrap(), end)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_as_on_lambda_renders_with_the_allow_list_and_one_that_requires_landlock_retries() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts { visibility_secs: 2, max_receive: 50, ..Opts::new(EXE) }).await;
    let logs = tempfile::tempdir().unwrap();
    let worker = |require: &str, log: &str| {
        let mut cmd = Command::new(EXE);
        cmd.arg("worker").envs([
            ("AWS_ENDPOINT_URL", app.res.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("REPORTQ_BUCKET", app.res.bucket.as_str()),
            ("REPORTQ_QUEUE_URL", app.res.queue_url.as_str()),
            ("REPORTQ_POLL_WAIT_SECS", "1"),
            ("REPORTQ_WORKER_CONCURRENCY", "3"),
            ("REPORTQ_METRICS_LISTEN", "off"),
            ("REPORTQ_LOG_FORMAT", "json"),
            ("REPORTQ_REQUIRE_SANDBOX", require),
        ]);
        as_on_lambda(&mut cmd);
        spawn_logged(cmd, &logs.path().join(log))
    };
    let request: Value = serde_json::from_slice(&common::example("summary.json")).unwrap();
    let submit = || async {
        let v: Value = app.post_json("/v1/reports", &request).await.json().await.unwrap();
        v["job_id"].as_str().unwrap().to_string()
    };
    let job = |id: String| {
        let app = &app;
        async move { app.get(&format!("/v1/reports/{id}")).await.json::<Value>().await.unwrap() }
    };

    // Landlock required: the job is refused, put back, and tried again; never rendered.
    let mut w = worker("io+landlock", "refusing.log");
    let id = submit().await;
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let j = job(id.clone()).await;
        let refusals = j["timeline"].as_array().unwrap().iter().filter(|e| e["code"] == "sandbox_unavailable").count();
        if refusals >= 2 {
            assert_eq!(j["status"], "queued", "{j}");
            assert!(render_spans(&j).is_empty());
            break;
        }
        assert!(Instant::now() < until, "the job was not refused twice: {j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = w.kill();
    let _ = w.wait();
    let log = std::fs::read_to_string(logs.path().join("refusing.log")).unwrap();
    assert!(log.contains("render refused: a required sandbox layer"), "a clear log line: {log}");

    // The default (io): the waiting job and three more render, each saying what confined it.
    let mut w = worker("io", "lambda.log");
    let mut ids = vec![id];
    for _ in 0..3 {
        ids.push(submit().await);
    }
    let mut spans = Vec::new();
    for id in &ids {
        let until = Instant::now() + Duration::from_secs(120);
        let j = loop {
            let j = job(id.clone()).await;
            if j["status"] == "succeeded" {
                break j;
            }
            assert!(Instant::now() < until && j["status"] != "failed", "{j}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let rendered = j["timeline"].as_array().unwrap().iter().find(|e| e["event"] == "rendered").unwrap().clone();
        assert_eq!(rendered["sandbox"], "io", "{rendered}");
        spans.extend(render_spans(&j));
    }
    assert_eq!(spans.len(), ids.len());
    let _ = w.kill();
    let _ = w.wait();
}

#[test]
fn a_tex_child_gets_none_of_its_parents_descriptors() {
    // A descriptor without close-on-exec in the parent, as a library might leave one.
    let marker = tempfile::NamedTempFile::new().unwrap();
    let path = std::ffi::CString::new(marker.path().to_str().unwrap()).unwrap();
    // SAFETY: open(2) with a valid C string; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
    assert!(fd > 2);
    let h = common::harness_with(|c| c.timeout = Duration::from_secs(4));
    let renderer = std::sync::Arc::new(h.renderer);
    let r = renderer.clone();
    let looping = std::thread::spawn(move || r.render_prepared(&crate::render::prepared(r"\def\x{\x}\x"), &crate::render::plain_ctx()));
    // Find the child (ours, running the TeX child) and list what it holds open.
    let me = std::process::id().to_string();
    let until = Instant::now() + Duration::from_secs(10);
    let child = loop {
        let found = std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()).find(|e| {
            let dir = e.path();
            let cmd = std::fs::read(dir.join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
            let ppid = stat.rsplit(')').next().and_then(|s| s.split_whitespace().nth(1)).unwrap_or("");
            String::from_utf8_lossy(&cmd).contains(reportq::sandbox::CHILD_ARG) && ppid == me
        });
        if let Some(e) = found {
            break e.path();
        }
        assert!(Instant::now() < until, "no TeX child found");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(300)); // past exec
    let fds: Vec<(i32, String)> = std::fs::read_dir(child.join("fd"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| {
            (e.file_name().to_string_lossy().parse().unwrap_or(-1), std::fs::read_link(e.path()).map(|p| p.display().to_string()).unwrap_or_default())
        })
        .collect();
    let _ = looping.join();
    // SAFETY: our own descriptor from above.
    unsafe { libc::close(fd) };
    assert!(!fds.iter().any(|(_, target)| target == &marker.path().display().to_string()), "the parent's file reached the child: {fds:?}");
    for (n, target) in &fds {
        if *n <= 2 {
            assert!(target.starts_with("pipe:"), "fd {n} is {target}, not a pipe");
        } else {
            // What the child opened itself: the bundle and format (read-only files), never a
            // socket or another process's pipe.
            assert!(!target.starts_with("socket:") && !target.starts_with("pipe:"), "fd {n} is {target}: {fds:?}");
        }
    }
}
