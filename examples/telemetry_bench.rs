//! What telemetry costs: API submit latency and worker throughput with logs (JSON lines at
//! info) and metrics (registry + EMF) on, against both off, alternating in one process and run.
//!
//! 1. As deployed: `POST /v1/reports` over HTTP against LocalStack, and a worker rendering real
//!    reports (Tectonic) from the queue: what the 5 % budget is about.
//! 2. The floor: the in-memory store and queue and a stand-in renderer, where the telemetry's
//!    share is as large as it can be (its cost in microseconds per request and per job).
//!
//!   cargo run --release --example telemetry_bench >/dev/null   (or `make bench-telemetry`;
//!   BENCH_N: in-memory requests and jobs per round, 3000; the figures go to stderr, EMF to stdout)

#[path = "../tests/it/common/app.rs"]
mod app;
#[path = "../tests/it/common/aws.rs"]
mod aws;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsMessage;
use axum::body::Body;
use axum::http::Request;
use reportq::api::{ApiState, router};
use reportq::config::{ApiSettings, WorkerSettings};
use reportq::queue::{JobMessage, MemoryQueue};
use reportq::render::RenderError;
use reportq::request::ReportRequest;
use reportq::store::MemoryStore;
use reportq::template::RenderContext;
use reportq::worker::{Typesetter, Worker};
use serde_json::Value;
use tower::ServiceExt;

struct Instant0;

impl Typesetter for Instant0 {
    fn render(&self, _req: &ReportRequest, _ctx: &RenderContext) -> Result<reportq::Rendered, RenderError> {
        Ok(reportq::Rendered {
            pdf: b"%PDF-1.7 stand-in %%EOF".to_vec(),
            log: String::new(),
            sandbox: "io (stand-in)".into(),
            slot_wait: Duration::ZERO,
            tex_format: "stand-in".into(),
        })
    }
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1].as_secs_f64() * 1e6
}

/// Submits `n` requests through the router; returns (p50 µs, p99 µs).
async fn api_round(n: usize, body: &str) -> (f64, f64) {
    let state = Arc::new(ApiState::new(ApiSettings::new("memory", "memory"), Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new())));
    let app = router(state);
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let req = Request::builder()
            .method("POST")
            .uri("/v1/reports")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let t = Instant::now();
        let resp = app.clone().oneshot(req).await.unwrap();
        let _ = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        lat.push(t.elapsed());
    }
    (pct(&mut lat, 0.5), pct(&mut lat, 0.99))
}

/// Submits `n` jobs, then has a worker process them ten at a time; returns jobs a second.
async fn worker_round(n: usize, request: &Value) -> f64 {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let submitter = reportq::submit::Submitter::new(store.clone(), queue.clone());
    for _ in 0..n {
        let item = reportq::submit::Item {
            body: request.clone(),
            request: ReportRequest::from_value(request.clone()).unwrap(),
            trace: None,
            callback: None,
        };
        submitter.submit(item, request, None, reportq::queue::Lane::Bulk).await.unwrap();
    }
    let msgs: Vec<SqsMessage> = queue
        .drain()
        .into_iter()
        .map(|m: JobMessage| {
            let mut s = SqsMessage::default();
            s.message_id = Some(m.job_id.to_string());
            s.body = Some(m.body());
            s
        })
        .collect();
    let mut cfg = WorkerSettings::new("memory", "memory");
    cfg.concurrency = 2;
    let worker = Worker::new(store, Arc::new(Instant0), cfg, None);
    let t = Instant::now();
    for chunk in msgs.chunks(10) {
        worker.process(chunk, Duration::from_secs(10)).await;
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// Telemetry on or off for the whole process: the JSON log layer drops every event while off,
/// and metrics are off.
static ON: AtomicBool = AtomicBool::new(false);

fn set(on: bool) {
    ON.store(on, Ordering::SeqCst);
    reportq::metrics::set_mode(if on { reportq::metrics::Mode::Emf } else { reportq::metrics::Mode::Off });
}

/// p50 and p99 of `n` sequential submits over HTTP, in ms.
async fn http_round(a: &app::App, n: usize, request: &Value) -> (f64, f64) {
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = a.post_json("/v1/reports", request).await;
        lat.push(t.elapsed());
        assert_eq!(r.status(), 202);
    }
    (pct(&mut lat, 0.5) / 1000.0, pct(&mut lat, 0.99) / 1000.0)
}

/// Jobs a second of one worker rendering `n` real reports from the queue.
async fn render_round(a: &app::App, n: usize, request: &Value) -> f64 {
    for _ in 0..n {
        assert_eq!(a.post_json("/v1/reports", request).await.status(), 202);
    }
    let t = Instant::now();
    let mut done = 0;
    while done < n {
        done += a.worker.poll_once(&a.queue, Duration::from_secs(1)).await.unwrap().iter().filter(|r| r.result.is_ok()).count();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn change(on: f64, off: f64) -> f64 {
    (on / off - 1.0) * 100.0
}

/// Three rounds each way, alternating (drift falls on both sides alike): the medians of each
/// figure `round` returns, on and off.
fn alternate<const K: usize>(mut round: impl FnMut() -> [f64; K]) -> ([f64; K], [f64; K]) {
    let (mut on, mut off): (Vec<[f64; K]>, Vec<[f64; K]>) = (Vec::new(), Vec::new());
    for i in 0..6 {
        let is_on = i % 2 == 1;
        set(is_on);
        let r = round();
        if is_on { on.push(r) } else { off.push(r) }
    }
    let pick = |v: &Vec<[f64; K]>| std::array::from_fn(|k| median(v.iter().map(|r| r[k]).collect()));
    (pick(&on), pick(&off))
}

fn main() {
    reportq::sandbox::maybe_run_child();
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let body = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/summary.json")).unwrap();
    let request: Value = serde_json::from_str(&body).unwrap();
    // Logs as in production: JSON lines at info (into a sink here); metrics with EMF, written to
    // stdout as on Lambda (run with stdout to /dev/null: the figures are printed on stderr).
    {
        use tracing_subscriber::prelude::*;
        let json = tracing_subscriber::fmt::layer().json().with_current_span(true).flatten_event(true).with_writer(std::io::sink);
        let filter = tracing_subscriber::filter::filter_fn(|m| ON.load(Ordering::Relaxed) && *m.level() <= tracing::Level::INFO);
        tracing_subscriber::registry().with(json.with_filter(filter)).init();
    }

    // 1. As deployed.
    let exe = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("reportq");
    assert!(exe.exists(), "build the reportq binary first ({})", exe.display());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let ls = aws::LocalStack::start();
    let a = rt.block_on(app::app(&ls.endpoint, app::Opts::new(&exe)));
    rt.block_on(http_round(&a, 50, &request)); // warm-up
    rt.block_on(render_round(&a, 4, &request));
    let (on, off) = alternate(|| {
        let (p50, p99) = rt.block_on(http_round(&a, 300, &request));
        [p50, p99, rt.block_on(render_round(&a, 20, &request))]
    });
    eprintln!("telemetry bench, as deployed (LocalStack, real renders; 300 submits and 20 renders a round, 3 rounds each way, medians):");
    eprintln!("  POST /v1/reports over HTTP p50: {:.2} ms on vs {:.2} ms off ({:+.1} %)", on[0], off[0], change(on[0], off[0]));
    eprintln!("  POST /v1/reports over HTTP p99: {:.2} ms on vs {:.2} ms off ({:+.1} %)", on[1], off[1], change(on[1], off[1]));
    eprintln!("  worker throughput (summary reports): {:.2} jobs/s on vs {:.2} jobs/s off ({:+.1} %)", on[2], off[2], change(on[2], off[2]));

    // 2. The floor.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (on, off) = alternate(|| {
        let (p50, p99) = rt.block_on(api_round(n, &body));
        [p50, p99, rt.block_on(worker_round(n, &request))]
    });
    eprintln!("telemetry bench, the floor (in memory, stand-in renderer; {n} requests and {n} jobs a round, medians):");
    eprintln!("  API submit p50: {:.1} µs on vs {:.1} µs off ({:+.1} µs)", on[0], off[0], on[0] - off[0]);
    eprintln!("  API submit p99: {:.1} µs on vs {:.1} µs off ({:+.1} µs)", on[1], off[1], on[1] - off[1]);
    eprintln!("  worker: {:.0} jobs/s on vs {:.0} jobs/s off ({:+.1} µs a job)", on[2], off[2], (1.0 / on[2] - 1.0 / off[2]) * 1e6);
}
