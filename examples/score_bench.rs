//! Timing of the DiAGRAM scoring path on the invented fixture network.
//!
//! cargo run --release --example score_bench [network.bif] [model.json]

use std::sync::Arc;
use std::time::{Duration, Instant};

use reportq::scoring::Scorer;
use serde_json::Value;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let root = env!("CARGO_MANIFEST_DIR");
    let bif_path = args.next().unwrap_or_else(|| format!("{root}/tests/fixtures/diagram-like.bif"));
    let model_path = args.next().unwrap_or_else(|| format!("{root}/tests/fixtures/model.json"));
    let bif = std::fs::read_to_string(&bif_path).expect("network file");
    let model_text = std::fs::read_to_string(&model_path).expect("model file");

    // Load: parse + validate; the process loads once and shares it.
    let mut loads: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(reportq::bayes::bif::parse(&bif).unwrap());
            t.elapsed()
        })
        .collect();
    loads.sort();
    let diagram = Scorer::new(Arc::new(reportq::bayes::bif::parse(&bif).unwrap())).unwrap();
    let model: Value = serde_json::from_str(&model_text).unwrap();
    let t = Instant::now();
    let first = diagram.score_value(&model).unwrap();
    let first_time = t.elapsed();
    println!("network: {} nodes from {bif_path}", diagram.network().len());
    println!("network load (parse + validate): p50 {}, p99 {}", micros(percentile(&loads, 0.5)), micros(percentile(&loads, 0.99)));
    println!("first score (compiles elimination plans): {}", micros(first_time));
    println!("scores: intellectual_control {:.4}, renderability {:.4}", first.intellectual_control, first.renderability);

    let runs = 20_000;
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(diagram.score_value(std::hint::black_box(&model)).unwrap());
            t.elapsed()
        })
        .collect();
    times.sort();
    println!("score(&Value) incl. nodes tables, {runs} runs: p50 {}, p99 {}", micros(percentile(&times, 0.5)), micros(percentile(&times, 0.99)));

    let time = |label: &str, f: &dyn Fn()| {
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect();
        times.sort();
        println!("  {label}, {runs} runs: p50 {}, p99 {}", micros(percentile(&times, 0.5)), micros(percentile(&times, 0.99)));
    };
    let parsed = reportq::domain::diagram::Model::parse_one(&model).unwrap();
    println!("where a score's time goes:");
    time("parse the model (Model::parse_one)", &|| {
        std::hint::black_box(reportq::domain::diagram::Model::parse_one(std::hint::black_box(&model)).unwrap());
    });
    time("the two scores of a parsed model (scores_of)", &|| {
        std::hint::black_box(diagram.scores_of(std::hint::black_box(&parsed)).unwrap());
    });
    time("scores and node tables of a parsed model (score)", &|| {
        std::hint::black_box(diagram.score(std::hint::black_box(&parsed)).unwrap());
    });
    time("the same rounded to 4 decimals, as /api/model/score answers (score_rounded)", &|| {
        std::hint::black_box(diagram.score_rounded(std::hint::black_box(&parsed), 4).unwrap());
    });

    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let v: Value = serde_json::from_str(std::hint::black_box(&model_text)).unwrap();
            std::hint::black_box(serde_json::to_string(&diagram.score_value(&v).unwrap()).unwrap());
            t.elapsed()
        })
        .collect();
    times.sort();
    println!("JSON text in -> JSON text out, {runs} runs: p50 {}, p99 {}", micros(percentile(&times, 0.5)), micros(percentile(&times, 0.99)));

    let mut times: Vec<Duration> = (0..2_000)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(diagram.improvements_value(&model).unwrap());
            t.elapsed()
        })
        .collect();
    times.sort();
    println!("improvements(&Value), 2000 runs: p50 {}, p99 {}", micros(percentile(&times, 0.5)), micros(percentile(&times, 0.99)));
    for imp in diagram.improvements_value(&model).unwrap() {
        println!(
            "  {:<18} gain IC {:+7.3}  R {:+7.3}  -> {}",
            imp.question().key(),
            imp.gain_intellectual_control,
            imp.gain_renderability,
            imp.answer.to_json()
        );
    }

    let start = Instant::now();
    let mut scored = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            std::hint::black_box(diagram.score_value(&model).unwrap());
        }
        scored += 100;
    }
    println!("throughput, one thread: {:.0} models/s", scored as f64 / start.elapsed().as_secs_f64());
}
