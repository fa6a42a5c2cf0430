//! The interactive lane under bulk load: while a 1,000-report batch renders on the local stack
//! (LocalStack, `reportq serve` and two `reportq worker` processes, as `make dev` runs them), one
//! person's report at a time is submitted to `POST /v1/reports`; each is timed from submit to
//! the PDF's bytes downloaded from its presigned URL. Prints p50/p95/max and how fast the batch
//! kept rendering meanwhile.
//!
//!   cargo run --release --example lanes_bench        (or `make bench-lanes`)
//!
//! Settings: BENCH_SAMPLES (30 interactive reports), BENCH_BATCH (1000), BENCH_LANES (1; 0 runs
//! the same with one shared queue, the layout before lanes, for comparison), BENCH_TIMEOUT_SECS
//! (120: an interactive report slower than this counts as that and ends the run).

#[path = "../tests/it/common/aws.rs"]
mod aws;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn request(name: &str) -> Value {
    let mut v: Value = serde_json::from_slice(&std::fs::read(aws::repo().join("tests/fixtures/diagram-small.json")).unwrap()).unwrap();
    v["params"]["organisation"] = json!(name);
    v
}

/// Kills the stack's processes however the benchmark ends.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn batch_done(http: &reqwest::Client, base: &str, id: &str) -> u64 {
    let v: Value = http.get(format!("{base}/v1/batches/{id}")).send().await.unwrap().json().await.unwrap();
    v["counts"]["succeeded"].as_u64().unwrap_or(0) + v["counts"]["failed"].as_u64().unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let exe = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("reportq");
    assert!(exe.exists(), "build the reportq binary first ({})", exe.display());
    let lanes = env_n("BENCH_LANES", 1) == 1;
    let samples = env_n("BENCH_SAMPLES", 30);
    let batch_size = env_n("BENCH_BATCH", 1000);
    let timeout = Duration::from_secs(env_n("BENCH_TIMEOUT_SECS", 120) as u64);
    let ls = aws::LocalStack::start();
    let res = aws::resources(&ls.endpoint, 180, 5);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let logs = tempfile::tempdir().unwrap();
    let mut env: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL", ls.endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("REPORTQ_BUCKET", res.bucket.clone()),
        ("REPORTQ_QUEUE_URL", res.queue_url.clone()),
        ("REPORTQ_POLL_WAIT_SECS", "1".into()),
        ("REPORTQ_LISTEN", format!("127.0.0.1:{port}")),
        ("REPORTQ_LOG_FORMAT", "json".into()),
        ("RUST_LOG", "warn".into()),
    ];
    if lanes {
        env.push(("REPORTQ_INTERACTIVE_QUEUE_URL", res.interactive_url.clone()));
    }
    let spawn = |args: &[&str], log: &str| {
        let mut cmd = Command::new(&exe);
        cmd.args(args).envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        aws::spawn_logged(cmd, &logs.path().join(log))
    };
    let mut procs = Procs(vec![spawn(&["serve"], "serve.log")]);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    procs.0.push(spawn(&["worker"], "worker-1.log"));
    procs.0.push(spawn(&["worker"], "worker-2.log"));
    println!(
        "lanes bench: {} workers, {} ({} cores here)",
        2,
        if lanes { "interactive and bulk queues" } else { "one shared queue" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );

    let requests: Vec<Value> = (0..batch_size).map(|i| request(&format!("Bulk Archive {i}"))).collect();
    let r = http.post(format!("{base}/v1/reports/batch")).json(&json!({ "requests": requests })).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let batch_id = r.json::<Value>().await.unwrap()["batch_id"].as_str().unwrap().to_string();
    // Measure once the batch is well under way: the workers are busy with it.
    let started = Instant::now();
    while batch_done(&http, &base, &batch_id).await < 10 {
        assert!(started.elapsed() < Duration::from_secs(300), "the batch did not start rendering");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let done_before = batch_done(&http, &base, &batch_id).await;
    let t_load = Instant::now();

    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let t = Instant::now();
        let r = http.post(format!("{base}/v1/reports")).json(&request(&format!("Interactive Archive {i}"))).send().await.unwrap();
        assert_eq!(r.status(), 202);
        let id = r.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_string();
        let url = loop {
            let job: Value = http.get(format!("{base}/v1/reports/{id}")).send().await.unwrap().json().await.unwrap();
            match job["status"].as_str() {
                Some("succeeded") => break job["result"]["url"].as_str().unwrap().to_string(),
                Some("failed") => panic!("interactive job failed: {job}"),
                _ => {}
            }
            if t.elapsed() > timeout {
                break String::new();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        if url.is_empty() {
            println!("  interactive report {i}: not done after {timeout:?}; stopping");
            times.push(timeout);
            break;
        }
        let pdf = http.get(&url).send().await.unwrap().bytes().await.unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        times.push(t.elapsed());
        // One person's report every second or so, not a flood.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let bulk = batch_done(&http, &base, &batch_id).await - done_before;
    let window = t_load.elapsed();
    let mut sorted = times.clone();
    sorted.sort();
    println!(
        "interactive submit -> PDF while the {batch_size}-report batch renders ({} samples): p50 {:.2} s, p95 {:.2} s, max {:.2} s",
        sorted.len(),
        pct(&sorted, 0.50).as_secs_f64(),
        pct(&sorted, 0.95).as_secs_f64(),
        sorted.last().unwrap().as_secs_f64()
    );
    println!(
        "bulk meanwhile: {bulk} batch reports finished in {:.0} s ({:.0} a minute)",
        window.as_secs_f64(),
        bulk as f64 * 60.0 / window.as_secs_f64()
    );
    drop(procs);
}
