//! The soak and fault-injection run (README "Reliability"): N reports through `reportq serve`
//! and several `reportq worker` processes against LocalStack (started here on a free loopback
//! port, or REPORTQ_TEST_LOCALSTACK), with SIGKILLed workers, S3/SQS outages, stalls and black
//! holes, duplicate deliveries and never-ending renders injected, then every job, report and
//! DLQ message audited. Exits non-zero on any violation.
//!
//!   cargo build --release && cargo run --release --example soak -- 10000
//!
//! Settings (environment): SOAK_JOBS (or the first argument; 300), SOAK_WORKERS (2),
//! SOAK_FAULTS (1), SOAK_DEADLINE_SECS, SOAK_BATCH (20), SOAK_BACKLOG (120), SOAK_FAULT_EVERY,
//! SOAK_LOOPS, SOAK_VISIBILITY_SECS (15), SOAK_JOB_DEADLINE_SECS (10),
//! SOAK_RENDER_TIMEOUT_SECS (5), SOAK_MAX_RECEIVE (5), SOAK_WORKER_CONCURRENCY (2);
//! REPORTQ_TEX_BUNDLE as for every render.

#[path = "../tests/it/common/aws.rs"]
mod aws;
#[path = "../tests/it/common/soak.rs"]
mod soak;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::process::ExitCode {
    let exe = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("reportq");
    assert!(exe.exists(), "build the reportq binary first: cargo build --release ({})", exe.display());
    let jobs = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(300);
    let mut opts = soak::SoakOpts::new(exe, 300);
    if std::env::var("SOAK_JOBS").is_err() {
        opts = soak::SoakOpts::new(opts.exe.clone(), jobs);
    }
    let rep = soak::run(opts).await;
    rep.print();
    if rep.violations.is_empty() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}
