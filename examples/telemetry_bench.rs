//! What telemetry costs: API submit latency and worker throughput with logs (JSON) and metrics
//! (registry + EMF) on, against both off, in the same process and run. No network, no TeX (the
//! in-memory store and queue, a stand-in renderer): the telemetry's share is the largest it can
//! be; with S3, SQS and real renders around it, it is smaller still.
//!
//!   cargo run --release --example telemetry_bench >/dev/null   (or `make bench-telemetry`;
//!   BENCH_N: requests and jobs per round, 3000; the figures go to stderr, EMF to stdout)

use std::sync::Arc;
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
use reportq::worker::{Render, Worker};
use serde_json::Value;
use tower::ServiceExt;

struct Instant0;

impl Render for Instant0 {
    fn render(&self, _req: &ReportRequest, _ctx: &RenderContext) -> Result<Vec<u8>, RenderError> {
        Ok(b"%PDF-1.7 stand-in %%EOF".to_vec())
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
        let item = reportq::submit::Item { body: request.clone(), request: ReportRequest::from_value(request.clone()).unwrap(), trace: None };
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

fn main() {
    let n: usize = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let body = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/summary.json")).unwrap();
    let request: Value = serde_json::from_str(&body).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Logs as in production: JSON lines at info, here into a sink; metrics with EMF, written to
    // stdout as on Lambda (run with stdout to /dev/null: the figures are printed on stderr).
    let json_logs = || tracing_subscriber::fmt().json().with_current_span(true).flatten_event(true).with_writer(std::io::sink).finish();
    let (mut on_api, mut off_api, mut on_w, mut off_w) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Alternating rounds, so drift (caches, the machine) falls on both sides alike.
    for round in 0..6 {
        let on = round % 2 == 1;
        let _guard = on.then(|| tracing::subscriber::set_default(json_logs()));
        reportq::metrics::set_mode(if on { reportq::metrics::Mode::Emf } else { reportq::metrics::Mode::Off });
        let api = rt.block_on(api_round(n, &body));
        let w = rt.block_on(worker_round(n, &request));
        if on {
            on_api.push(api);
            on_w.push(w);
        } else {
            off_api.push(api);
            off_w.push(w);
        }
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut on_p50, mut off_p50): (Vec<f64>, Vec<f64>) = (on_api.iter().map(|x| x.0).collect(), off_api.iter().map(|x| x.0).collect());
    let (mut on_p99, mut off_p99): (Vec<f64>, Vec<f64>) = (on_api.iter().map(|x| x.1).collect(), off_api.iter().map(|x| x.1).collect());
    let (a_on, a_off, p_on, p_off) = (med(&mut on_p50), med(&mut off_p50), med(&mut on_p99), med(&mut off_p99));
    let (w_on, w_off) = (med(&mut on_w), med(&mut off_w));
    eprintln!("telemetry bench ({n} requests and {n} jobs a round, 3 rounds each way, medians):");
    eprintln!("  API submit latency p50: {a_on:.1} µs on vs {a_off:.1} µs off ({:+.1} %)", (a_on / a_off - 1.0) * 100.0);
    eprintln!("  API submit latency p99: {p_on:.1} µs on vs {p_off:.1} µs off ({:+.1} %)", (p_on / p_off - 1.0) * 100.0);
    eprintln!("  worker throughput: {w_on:.0} jobs/s on vs {w_off:.0} jobs/s off ({:+.1} %)", (w_on / w_off - 1.0) * 100.0);
}
