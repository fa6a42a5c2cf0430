//! The measurements behind the README's "Scaling": what one report costs in each stage and in
//! requests to S3 and SQS, and how fast 1 and 2 local workers go, on LocalStack through real
//! processes (`reportq serve`, `reportq worker` with JSON logs and EMF metrics, as on Lambda).
//!
//!   cargo run --release --example scaling_bench > target/scaling.json
//!   python3 scripts/simulate.py target/scaling.json
//!
//! Three runs of the DiAGRAM example (tagged, the default), each a fresh batch:
//! 1. calibration: one worker, one render slot (BENCH_CALIBRATE jobs, 12): each stage's own
//!    cost, from the job records' timelines, and the requests per report, from LocalStack's
//!    request log;
//! 2. one worker, two render slots (the default on 2 cores), BENCH_JOBS (60) jobs;
//! 3. two workers, two slots each, BENCH_JOBS jobs.
//!
//! Runs 2 and 3 are what the simulation predicts from run 1's figures. Progress goes to
//! stderr, the measurements (JSON) to stdout. Needs its own LocalStack (for its log): unset
//! REPORTQ_TEST_LOCALSTACK.

#[path = "../tests/it/common/aws.rs"]
mod aws;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reportq::domain::job::{EventKind, Job, Status};
use reportq::store::{JobStore, S3Store};
use serde_json::{Value, json};
use uuid::Uuid;

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Requests per operation in LocalStack's log from byte `from` on (`AWS s3.PutObject => 200`).
fn ops(log: &std::path::Path, from: u64) -> (BTreeMap<String, u64>, u64) {
    let bytes = std::fs::read(log).unwrap();
    let mut out = BTreeMap::new();
    for line in String::from_utf8_lossy(&bytes[from as usize..]).lines() {
        let op = line.split("localstack.request.aws").nth(1).and_then(|rest| rest.split("AWS ").nth(1)).and_then(|r| r.split(" =>").next());
        if let Some(op) = op {
            *out.entry(op.trim().to_string()).or_default() += 1;
        }
    }
    (out, bytes.len() as u64)
}

fn request(i: usize, example: &Value) -> Value {
    let mut v = example.clone();
    v["params"]["organisation"] = json!(format!("Scaling Archive {i}"));
    v
}

struct Run {
    seconds: f64,
    /// When the workers were started (ms since 1970).
    spawned_at_ms: i64,
    jobs: Vec<Job>,
    ops: BTreeMap<String, u64>,
    log_bytes: u64,
    polls: u64,
}

#[allow(clippy::too_many_arguments)]
async fn run(
    exe: &std::path::Path,
    env: &[(String, String)],
    base: &str,
    store: &S3Store,
    log: &std::path::Path,
    example: &Value,
    jobs: usize,
    workers: usize,
    slots: usize,
) -> Run {
    let http = reqwest::Client::new();
    let reqs: Vec<Value> = (0..jobs).map(|i| request(i, example)).collect();
    let r: Value = http.post(format!("{base}/v1/reports/batch")).json(&json!({ "requests": reqs })).send().await.unwrap().json().await.unwrap();
    let batch: Uuid = r["batch_id"].as_str().unwrap().parse().unwrap();
    let (_, mark) = ops(log, 0);
    // The workers' logs stay for a look (target/scaling-logs/{batch}/).
    let dir = aws::repo().join("target/scaling-logs").join(batch.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    let mut children: Vec<Child> = (0..workers)
        .map(|w| {
            let out = std::fs::File::create(dir.join(format!("worker{w}.log"))).unwrap();
            Command::new(exe)
                .arg("worker")
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env("REPORTQ_WORKER_CONCURRENCY", slots.to_string())
                .env("REPORTQ_RENDER_CONCURRENCY", slots.to_string())
                .env("REPORTQ_LOG_FORMAT", "json")
                .env("REPORTQ_METRICS", "emf")
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap()
        })
        .collect();
    let t = Instant::now();
    let spawned_at_ms = reportq::domain::job::now_ms();
    let mut polls = 0;
    let seconds = loop {
        polls += 1;
        let st: Value = http.get(format!("{base}/v1/batches/{batch}?limit=1")).send().await.unwrap().json().await.unwrap();
        if st["done"] == true {
            assert_eq!(st["counts"]["succeeded"], jobs, "{st}");
            break t.elapsed().as_secs_f64();
        }
        assert!(t.elapsed() < Duration::from_secs(900), "not done: {st}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for c in &mut children {
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    }
    for c in &mut children {
        c.wait().unwrap();
    }
    // A stopped worker's last long poll (1 s) is still open in LocalStack: messages sent
    // before it ends would go to it, and wait out their visibility timeout.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (ops, _) = ops(log, mark);
    let log_bytes = (0..workers).map(|w| std::fs::metadata(dir.join(format!("worker{w}.log"))).unwrap().len()).sum();
    let ids: Vec<Uuid> = (0..jobs as u32).map(|i| reportq::domain::job::item_id(batch, i)).collect();
    let mut records = Vec::new();
    for id in ids {
        records.push(store.job(id).await.unwrap().unwrap().0);
    }
    Run { seconds, spawned_at_ms, jobs: records, ops, log_bytes, polls }
}

/// Each job's stages (ms): claim to render start, render, render end to succeeded.
fn stages(jobs: &[Job]) -> Vec<Value> {
    jobs.iter()
        .filter(|j| j.status == Status::Succeeded)
        .map(|j| {
            let at = |k: EventKind| j.timeline.iter().rev().find(|e| e.event == k);
            let claimed = at(EventKind::Claimed).unwrap().at_ms;
            let rendered = at(EventKind::Rendered).unwrap();
            let render = rendered.ms.unwrap() as i64;
            let succeeded = at(EventKind::Succeeded).unwrap().at_ms;
            json!({ "prepare_ms": rendered.at_ms - render - claimed, "render_ms": render, "finish_ms": succeeded - rendered.at_ms,
                "claimed_at_ms": claimed, "succeeded_at_ms": succeeded })
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let exe = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("reportq");
    assert!(exe.exists(), "build the reportq binary first ({})", exe.display());
    let ls = aws::LocalStack::start();
    let log = ls.log().expect("a LocalStack of its own (unset REPORTQ_TEST_LOCALSTACK): its request log is read");
    let res = aws::resources(&ls.endpoint, 120, 5);
    let (s3, sqs) = aws::clients(&ls.endpoint).await;
    let store = S3Store::new(s3.clone(), res.bucket.clone());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = aws::process_env(&res, port, &[("RUST_LOG", "info".into())]);
    let mut serve =
        Command::new(&exe).arg("serve").envs(env.iter().map(|(k, v)| (k, v))).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(t.elapsed() < Duration::from_secs(30), "reportq serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let example: Value = serde_json::from_slice(&std::fs::read(aws::repo().join("examples/diagram.json")).unwrap()).unwrap();

    // Single operations' latency on this LocalStack, for the stages the timeline cannot see
    // (the claim's read and write; receiving and deleting a batch of messages).
    let t = Instant::now();
    for i in 0..50 {
        let key = format!("bench/latency/{i}");
        s3.put_object().bucket(&res.bucket).key(&key).body(vec![b'x'; 2048].into()).send().await.unwrap();
        s3.get_object().bucket(&res.bucket).key(&key).send().await.unwrap().body.collect().await.unwrap();
    }
    let s3_op_ms = t.elapsed().as_secs_f64() * 1e3 / 100.0;
    let t = Instant::now();
    for _ in 0..20 {
        sqs.send_message().queue_url(&res.dlq_url).message_body("x").send().await.unwrap();
        let got = sqs.receive_message().queue_url(&res.dlq_url).max_number_of_messages(10).send().await.unwrap();
        for m in got.messages() {
            sqs.delete_message().queue_url(&res.dlq_url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    let sqs_op_ms = t.elapsed().as_secs_f64() * 1e3 / 60.0;
    eprintln!("latency: S3 {s3_op_ms:.1} ms an operation, SQS {sqs_op_ms:.1} ms");

    let calibrate = env_n("BENCH_CALIBRATE", 12);
    let jobs = env_n("BENCH_JOBS", 60);
    let mut runs = Vec::new();
    for (name, n, workers, slots) in [("calibration", calibrate, 1, 1), ("1 worker", jobs, 1, 2), ("2 workers", jobs, 2, 2)] {
        let r = run(&exe, &env, &base, &store, &log, &example, n, workers, slots).await;
        eprintln!("{name}: {n} jobs, {workers} worker(s) x {slots} slot(s): {:.1} s, {:.1} jobs/minute", r.seconds, n as f64 / r.seconds * 60.0);
        runs.push(json!({
            "name": name, "jobs": n, "workers": workers, "slots": slots, "seconds": r.seconds, "spawned_at_ms": r.spawned_at_ms,
            "jobs_per_minute": n as f64 / r.seconds * 60.0,
            "stages": stages(&r.jobs),
            "ops": r.ops, "polls": r.polls, "worker_log_bytes": r.log_bytes,
            "report_bytes": r.jobs.iter().filter_map(|j| j.output.as_ref()).map(|o| o.size).sum::<u64>() / n as u64,
        }));
    }
    // What a poll of the batch costs, to take the bench's own polls out of the counts.
    let (_, mark) = ops(&log, 0);
    let r: Value = reqwest::Client::new()
        .post(format!("{base}/v1/reports/batch"))
        .json(&json!({ "requests": [request(0, &example)] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (submit_ops, mark2) = ops(&log, mark);
    for _ in 0..10 {
        reqwest::get(format!("{base}/v1/batches/{}?limit=1", r["batch_id"].as_str().unwrap())).await.unwrap();
    }
    let (poll_ops, _) = ops(&log, mark2);
    serve.kill().unwrap();
    serve.wait().unwrap();
    let out = json!({
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) },
        "latency": { "s3_op_ms": s3_op_ms, "sqs_op_ms": sqs_op_ms },
        "submit_one_report_ops": submit_ops,
        "ten_polls_ops": poll_ops,
        "runs": runs,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
