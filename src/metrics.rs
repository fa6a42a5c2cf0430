//! Metrics: one layer, two ways out. Every figure is recorded once, with [`count`] or
//! [`observe`]; it goes into an in-process registry that `reportq serve` and `reportq worker`
//! expose in the Prometheus text format (`/metrics`), and, on Lambda, out as a CloudWatch
//! Embedded Metric Format document on stdout (CloudWatch turns it into metrics; no API call).
//!
//! [`METRICS`] names every metric the code emits; `infra/check_template.py` reads that table, so
//! an alarm or dashboard can never name a metric nothing sends.
//!
//! `REPORTQ_METRICS`: `emf` (the default on Lambda) writes EMF and keeps the registry, `on`
//! (the default elsewhere) keeps the registry only, `off` records nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "reportq";

/// Every metric: (name, CloudWatch unit, what it counts). Names are the CloudWatch ones; the
/// Prometheus ones are `reportq_` + snake case (+ `_total` for counts).
pub const METRICS: &[(&str, &str, &str)] = &[
    ("JobsSubmitted", "Count", "jobs the API accepted (Template)"),
    ("JobsSucceeded", "Count", "jobs finished with a PDF (Template)"),
    ("JobsFailed", "Count", "jobs finished failed (Template, Code)"),
    ("Retries", "Count", "deliveries handed back to the queue for another try (Code)"),
    ("QueueWaitMs", "Milliseconds", "from the job's creation to its claim by a worker (Lane)"),
    ("RenderMs", "Milliseconds", "one render, parameters to PDF bytes (Template)"),
    ("UploadMs", "Milliseconds", "storing one PDF in S3"),
    ("PdfBytes", "Bytes", "size of one PDF (Template)"),
    ("RendersRefused", "Count", "renders refused because the TeX child could not be confined (Template)"),
    ("WebhookAttempts", "Count", "webhook delivery attempts (Result: delivered, retrying, gave_up)"),
    ("QuotaRefusals", "Count", "submits refused because a key's daily quota was used up"),
    ("ApiRequests", "Count", "API answers (Route, StatusClass)"),
    ("ApiLatencyMs", "Milliseconds", "API answer time (Route, StatusClass)"),
];

/// Histogram buckets (upper bounds) for the Prometheus export: milliseconds or bytes.
const MS_BUCKETS: &[f64] = &[5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0, 60000.0, 300000.0];
const BYTE_BUCKETS: &[f64] = &[16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0];

/// The metrics mode, from `REPORTQ_METRICS` ([`crate::config::Telemetry`]).
pub use crate::config::MetricsMode as Mode;

/// The mode as stored (an atomic: read on every figure).
fn code(mode: Mode) -> u8 {
    match mode {
        Mode::Off => 0,
        Mode::On => 1,
        Mode::Emf => 2,
    }
}

static MODE: AtomicU8 = AtomicU8::new(1);

/// Sets the mode (once, at start: [`crate::logging::init`]; the benchmarks switch it).
pub fn set_mode(mode: Mode) {
    MODE.store(code(mode), Ordering::Relaxed);
}

pub fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        0 => Mode::Off,
        2 => Mode::Emf,
        _ => Mode::On,
    }
}

type Key = (&'static str, Vec<(&'static str, String)>);

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    counters: BTreeMap<Key, f64>,
    histograms: BTreeMap<Key, Histogram>,
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn unit(name: &str) -> &'static str {
    METRICS.iter().find(|(n, _, _)| *n == name).map(|(_, u, _)| *u).unwrap_or_else(|| panic!("metric {name} is not in METRICS"))
}

fn buckets(name: &str) -> &'static [f64] {
    if unit(name) == "Bytes" { BYTE_BUCKETS } else { MS_BUCKETS }
}

/// Adds `value` to the counter `name` with these dimensions.
pub fn count(name: &'static str, dims: &[(&'static str, &str)], value: f64) {
    if mode() == Mode::Off {
        return;
    }
    let key = (name, dims.iter().map(|(k, v)| (*k, v.to_string())).collect());
    *registry().lock().unwrap_or_else(|e| e.into_inner()).counters.entry(key).or_default() += value;
    emf(name, dims, value);
}

/// Records one observation (a duration, a size) of `name` with these dimensions.
pub fn observe(name: &'static str, dims: &[(&'static str, &str)], value: f64) {
    if mode() == Mode::Off {
        return;
    }
    let key = (name, dims.iter().map(|(k, v)| (*k, v.to_string())).collect());
    {
        let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
        let bounds = buckets(name);
        let h = r.histograms.entry(key).or_insert_with(|| Histogram { counts: vec![0; bounds.len()], ..Histogram::default() });
        for (i, b) in bounds.iter().enumerate() {
            if value <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += value;
        h.count += 1;
    }
    emf(name, dims, value);
}

/// One EMF document for one value: the metric under all its dimensions, under each one alone
/// (the 5xx alarm reads `ApiRequests` by `StatusClass` only) and, for the whole service's
/// figure, under none.
pub fn emf_document(name: &str, dims: &[(&str, &str)], value: f64, timestamp_ms: u128) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    let all: Vec<&str> = dims.iter().map(|(k, _)| *k).collect();
    let mut sets: Vec<Vec<&str>> = vec![all.clone()];
    if all.len() > 1 {
        sets.extend(all.iter().map(|d| vec![*d]));
    }
    if !all.is_empty() {
        sets.push(Vec::new());
    }
    doc.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": sets,
                "Metrics": [{ "Name": name, "Unit": unit(name) }]
            }]
        }),
    );
    for (k, v) in dims {
        doc.insert((*k).into(), serde_json::Value::String((*v).into()));
    }
    doc.insert(name.into(), serde_json::json!(value));
    serde_json::Value::Object(doc)
}

fn emf(name: &str, dims: &[(&str, &str)], value: f64) {
    if mode() != Mode::Emf {
        return;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let mut line = serde_json::to_vec(&emf_document(name, dims, value, now)).expect("serialises");
    line.push(b'\n');
    // One write per document: lines from several threads never interleave.
    let _ = std::io::stdout().lock().write_all(&line);
}

fn snake(name: &str) -> String {
    let mut out = String::from("reportq_");
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn labels(dims: &[(&'static str, String)], extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = dims.iter().map(|(k, v)| format!("{}=\"{}\"", snake(k).trim_start_matches("reportq_"), escape(v))).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The registry in the Prometheus text format (version 0.0.4).
pub fn prometheus() -> String {
    let r = registry().lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    for (name, unit, help) in METRICS {
        let counters: Vec<_> = r.counters.iter().filter(|((n, _), _)| n == name).collect();
        let hists: Vec<_> = r.histograms.iter().filter(|((n, _), _)| n == name).collect();
        if *unit == "Count" {
            let metric = format!("{}_total", snake(name));
            out.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} counter\n"));
            for ((_, dims), v) in counters {
                out.push_str(&format!("{metric}{} {v}\n", labels(dims, None)));
            }
        } else {
            let metric = snake(name);
            out.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} histogram\n"));
            let bounds = buckets(name);
            for ((_, dims), h) in hists {
                for (b, c) in bounds.iter().zip(&h.counts) {
                    out.push_str(&format!("{metric}_bucket{} {c}\n", labels(dims, Some(("le", b.to_string())))));
                }
                out.push_str(&format!("{metric}_bucket{} {}\n", labels(dims, Some(("le", "+Inf".into()))), h.count));
                out.push_str(&format!("{metric}_sum{} {}\n{metric}_count{} {}\n", labels(dims, None), h.sum, labels(dims, None), h.count));
            }
        }
    }
    out
}

/// `2xx`, `4xx`, `5xx`: the status class dimension of API metrics.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_names_and_emf_shape() {
        assert_eq!(snake("QueueWaitMs"), "reportq_queue_wait_ms");
        let doc = emf_document("RenderMs", &[("Template", "diagram")], 412.0, 1_700_000_000_000);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Template"], []]));
        assert_eq!(doc["RenderMs"], serde_json::json!(412.0));
        assert_eq!(doc["Template"], "diagram");
        let doc = emf_document("ApiRequests", &[("Route", "/v1/reports"), ("StatusClass", "2xx")], 1.0, 0);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Route", "StatusClass"], ["Route"], ["StatusClass"], []]));
        let doc = emf_document("UploadMs", &[], 3.0, 0);
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([[]]));
        assert_eq!(doc["UploadMs"], serde_json::json!(3.0));
    }
}
