//! The short soak (the full one is `cargo run --release --example soak -- 10000`, see README
//! "Reliability"): a few hundred reports through `reportq serve` and two `reportq worker`
//! processes on LocalStack, with every fault kind injected, then everything audited.

use crate::common::{aws, soak};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_with_faults_loses_nothing_and_renders_nothing_twice() {
    let opts = soak::SoakOpts::new(env!("CARGO_BIN_EXE_reportq").into(), 150);
    let jobs = opts.jobs;
    let rep = soak::run(opts).await;
    rep.print();
    assert!(rep.violations.is_empty(), "{} violation(s), first: {}", rep.violations.len(), rep.violations[0]);
    assert_eq!((rep.lost, rep.duplicates, rep.stuck, rep.bad_objects, rep.orphans), (0, 0, 0, 0, 0));
    assert_eq!(rep.succeeded + rep.failed_expected + rep.dead_lettered, rep.jobs);
    assert!(rep.succeeded >= jobs * 9 / 10, "most jobs succeed: {}", rep.succeeded);
    for kind in ["duplicate", "kill", "refuse", "stall", "blackhole", "loop_render", "bad_record"] {
        assert!(rep.fault(kind) >= 1, "fault {kind} was not injected: {:?}", rep.faults);
    }
}

/// A connection that goes silent (packets dropped, no reset) while `reportq worker` waits on
/// it must not wedge the worker: it gives up on the call and polls again. Before the fix the
/// long poll had no time limit and the worker waited on the dead connection for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_recovers_from_a_black_holed_connection() {
    use std::time::{Duration, Instant};
    let ls = aws::LocalStack::start();
    let res = aws::resources(&ls.endpoint, 10, 5);
    let proxy = aws::FaultProxy::start(&ls.endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("worker.log");
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", proxy.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("REPORTQ_BUCKET", res.bucket.as_str()),
        ("REPORTQ_QUEUE_URL", res.queue_url.as_str()),
        ("REPORTQ_POLL_WAIT_SECS", "1"),
        ("REPORTQ_JOB_DEADLINE_SECS", "8"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let _worker = soak::spawn(std::path::Path::new(env!("CARGO_BIN_EXE_reportq")), "worker", &env, log.clone());
    // The worker is long-polling through the proxy; then everything goes silent for a while.
    let end = Instant::now() + Duration::from_secs(20);
    while proxy.connections.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < end, "the worker never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.set(aws::Fault::Blackhole);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    proxy.set(aws::Fault::None);

    let (s3, sqs) = aws::clients(&ls.endpoint).await;
    use reportq::queue::JobQueue;
    use reportq::store::JobStore;
    let jobs = reportq::store::S3Store::new(s3, res.bucket.clone());
    let id = uuid::Uuid::new_v4();
    let req: serde_json::Value = serde_json::from_slice(&std::fs::read(aws::repo().join("examples/summary.json")).unwrap()).unwrap();
    assert!(jobs.create_job(&reportq::domain::job::Job::new(id, None, "summary", req, reportq::domain::now_epoch())).await.unwrap());
    reportq::queue::SqsQueue::new(sqs, res.queue_url.clone()).send(&reportq::queue::JobMessage::bulk(id)).await.unwrap();
    let end = Instant::now() + Duration::from_secs(40);
    loop {
        let (job, _) = jobs.job(id).await.unwrap().unwrap();
        if job.status == reportq::domain::job::Status::Succeeded {
            break;
        }
        assert!(
            Instant::now() < end,
            "the worker did not take the job after the black hole ({:?}); its log:\n{}",
            job.status,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
