//! Pipeline benchmark against LocalStack (started here on a free loopback port, or the one in
//! REPORTQ_TEST_LOCALSTACK): API submit latency (p50/p99 over real HTTP), bulk submit
//! throughput (a 1,000-request batch), and end-to-end jobs/minute with one local worker.
//!
//!   cargo run --release --example pipeline_bench        (or `make bench-pipeline`)
//!
//! Settings: BENCH_SUBMITS (300), BENCH_BATCHES (3), BENCH_E2E_JOBS (60).

#[path = "../tests/it/common/app.rs"]
mod app;
#[path = "../tests/it/common/aws.rs"]
mod aws;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn request(i: usize) -> Value {
    let mut v: Value = serde_json::from_slice(&std::fs::read(aws::repo().join("tests/fixtures/diagram-small.json")).unwrap()).unwrap();
    v["params"]["organisation"] = json!(format!("Bench Archive {i}"));
    v
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    reportq::sandbox::maybe_run_child();
    let exe = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("reportq");
    assert!(exe.exists(), "build the reportq binary first ({})", exe.display());
    let t = Instant::now();
    let ls = aws::LocalStack::start();
    println!("LocalStack at {} (ready in {:.1?})", ls.endpoint, t.elapsed());

    // 1. Submit latency: one request at a time over HTTP, each stored and queued.
    let a = app::app(&ls.endpoint, app::Opts::new(&exe)).await;
    let n = env_n("BENCH_SUBMITS", 300);
    for i in 0..10 {
        assert_eq!(a.post_json("/v1/reports", &request(i)).await.status(), 202); // warm-up
    }
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let body = request(i);
        let t = Instant::now();
        let r = a.post_json("/v1/reports", &body).await;
        lat.push(t.elapsed());
        assert_eq!(r.status(), 202);
    }
    lat.sort();
    println!(
        "submit latency (POST /v1/reports, {n} sequential): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&lat, 0.50).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );

    // 2. Bulk: 1,000 requests in one call (validated, 1,000 records written, 100 SendMessageBatch calls).
    let batch: Vec<Value> = (0..1000).map(request).collect();
    let body = json!({ "requests": batch });
    let mut rates = Vec::new();
    for _ in 0..env_n("BENCH_BATCHES", 3) {
        let t = Instant::now();
        let r = a.post_json("/v1/reports/batch", &body).await;
        let took = t.elapsed();
        assert_eq!(r.status(), 202);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["job_ids"].as_array().unwrap().len(), 1000);
        rates.push(1000.0 / took.as_secs_f64());
        println!("bulk submit (POST /v1/reports/batch, 1,000 requests): {:.2} s, {:.0} requests/s", took.as_secs_f64(), 1000.0 / took.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!("bulk submit median: {:.0} requests/s", rates[rates.len() / 2]);
    drop(a);

    // 3. End to end with one local worker: a batch submitted, rendered, all succeeded.
    let jobs = env_n("BENCH_E2E_JOBS", 60);
    let b = app::app(&ls.endpoint, app::Opts::new(&exe)).await;
    let reqs: Vec<Value> = (0..jobs).map(request).collect();
    let t = Instant::now();
    let r: Value = b.post_json("/v1/reports/batch", &json!({ "requests": reqs })).await.json().await.unwrap();
    let batch_id = r["batch_id"].as_str().unwrap().to_string();
    let _worker = b.spawn_worker();
    let end = Instant::now() + Duration::from_secs(900);
    loop {
        let st: Value = b.get(&format!("/v1/batches/{batch_id}?limit=1")).await.json().await.unwrap();
        if st["done"] == true {
            assert_eq!(st["counts"]["succeeded"], jobs, "{st}");
            break;
        }
        assert!(Instant::now() < end, "end-to-end run did not finish: {st}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = t.elapsed();
    println!(
        "end to end ({jobs} diagram jobs, one worker, {} render slots): {:.1} s, {:.0} jobs/minute",
        b.worker_cfg.concurrency,
        took.as_secs_f64(),
        jobs as f64 / took.as_secs_f64() * 60.0
    );
}
