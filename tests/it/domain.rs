//! Submission and the worker's claim/lease/finish rules on the in-memory store and queue: no
//! emulator, no TeX (a stand-in renderer), milliseconds. The same code runs on S3 and SQS in
//! tests/it/pipeline.rs, for what only the real services show.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use reportq::config::WorkerSettings;
use reportq::domain::job::{Job, Status};
use reportq::domain::now_epoch;
use reportq::queue::{JobMessage, Lane, MemoryQueue};
use reportq::render::RenderError;
use reportq::request::ReportRequest;
use reportq::store::{JobStore, MemoryStore, Put};
use reportq::submit::{Item, SubmitError, Submitter};
use reportq::template::RenderContext;
use reportq::worker::{Outcome, Typesetter, Worker, WorkerError};
use serde_json::{Value, json};
use uuid::Uuid;

/// Renders a fixed PDF (or fails as told), counting calls, optionally slowly.
struct FakeRender {
    calls: AtomicUsize,
    fail: Option<fn() -> RenderError>,
    delay: Duration,
}

impl Typesetter for FakeRender {
    fn render(&self, req: &ReportRequest, _ctx: &RenderContext) -> Result<reportq::Rendered, RenderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        match self.fail {
            Some(f) => Err(f()),
            None => Ok(reportq::Rendered {
                pdf: format!("%PDF-1.7 {} %%EOF", req.template_name()).into_bytes(),
                log: String::new(),
                sandbox: "io (stand-in renderer)".into(),
                slot_wait: Duration::ZERO,
                tex_format: "stand-in".into(),
            }),
        }
    }
}

fn fake(fail: Option<fn() -> RenderError>, delay: Duration) -> Arc<FakeRender> {
    Arc::new(FakeRender { calls: AtomicUsize::new(0), fail, delay })
}

fn request() -> Value {
    serde_json::from_str(include_str!("../../examples/summary.json")).unwrap()
}

fn item(v: &Value) -> Item {
    Item { body: v.clone(), request: ReportRequest::from_value(v.clone()).unwrap(), trace: None, callback: None }
}

struct Env {
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    submitter: Submitter,
}

fn env() -> Env {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    Env { submitter: Submitter::new(store.clone(), queue.clone()), store, queue }
}

fn worker(e: &Env, r: Arc<FakeRender>, max_receive: u32) -> Worker {
    let mut cfg = WorkerSettings::new("memory", "memory");
    cfg.max_receive_count = max_receive;
    cfg.job_deadline = Duration::from_secs(5);
    Worker::new(e.store.clone(), r, cfg, None)
}

fn message(id: Uuid, receive_count: u32) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(Uuid::new_v4().to_string());
    m.body = Some(JobMessage::bulk(id).body());
    m.attributes.insert("ApproximateReceiveCount".into(), receive_count.to_string());
    m
}

async fn status(e: &Env, id: Uuid) -> Job {
    e.store.job(id).await.unwrap().unwrap().0
}

#[tokio::test]
async fn a_submitted_job_is_stored_then_queued_once_per_idempotency_key() {
    let e = env();
    let v = request();
    let (job, created) = e.submitter.submit(item(&v), &v, Some("k1"), Lane::Bulk).await.unwrap();
    assert!(created);
    assert_eq!(status(&e, job.id).await.status, Status::Queued);
    assert_eq!(e.queue.drain(), vec![JobMessage::bulk(job.id)]);
    // Retries with the key: the same job, and no message sent again while it waits in the
    // queue (190 replays once put 190 more messages on the interactive queue).
    for _ in 0..190 {
        let (again, created) = e.submitter.submit(item(&v), &v, Some("k1"), Lane::Interactive).await.unwrap();
        assert_eq!((again.id, created), (job.id, false));
    }
    assert!(e.queue.is_empty(), "a replay re-sent the message of a job already sent");
    // The key for another body is refused and changes nothing.
    let mut other = v.clone();
    other["params"]["title"] = json!("Another");
    let before = e.store.keys();
    assert!(matches!(e.submitter.submit(item(&other), &other, Some("k1"), Lane::Bulk).await, Err(SubmitError::KeyReused)));
    assert_eq!(e.store.keys(), before);
    assert!(e.queue.is_empty());
}

#[tokio::test]
async fn an_enqueue_failure_fails_a_job_nobody_can_retry_and_keeps_a_keyed_one() {
    let e = env();
    let v = request();
    e.queue.set_down(true);
    assert!(matches!(e.submitter.submit(item(&v), &v, None, Lane::Bulk).await, Err(SubmitError::Queue(_))));
    let keys = e.store.keys();
    let id: Uuid = keys.iter().find_map(|k| k.strip_prefix("jobs/")?.strip_suffix(".json")?.parse().ok()).unwrap();
    let j = status(&e, id).await;
    assert_eq!((j.status, j.error.unwrap().code.as_str()), (Status::Failed, "enqueue_failed"));
    // With a key the job stays queued, and the retry (queue back) sends its message.
    assert!(e.submitter.submit(item(&v), &v, Some("k"), Lane::Bulk).await.is_err());
    e.queue.set_down(false);
    let (job, created) = e.submitter.submit(item(&v), &v, Some("k"), Lane::Bulk).await.unwrap();
    assert!(!created);
    assert_eq!(job.status, Status::Queued);
    assert_eq!(e.queue.drain(), vec![JobMessage::bulk(job.id)]);
}

#[tokio::test]
async fn a_store_outage_stores_and_queues_nothing() {
    let e = env();
    let v = request();
    e.store.set_down(true);
    assert!(matches!(e.submitter.submit(item(&v), &v, None, Lane::Bulk).await, Err(SubmitError::Store(_))));
    e.store.set_down(false);
    assert!(e.store.keys().is_empty() && e.queue.is_empty());
}

/// Found in review: a replay whose first try claimed the key and died before storing the batch
/// made the batch now, yet answered "not created", so the caller's quota was given back for
/// reports it did get.
#[tokio::test]
async fn a_replay_that_makes_the_missing_batch_says_it_created_it() {
    use reportq::store::{IdempotencyRecord, IdempotencyScope};
    let e = env();
    let body = json!({ "requests": [request()] });
    let id = Uuid::new_v4();
    let first_try = IdempotencyRecord { id, fingerprint: reportq::submit::fingerprint(&body) };
    assert_eq!(e.submitter.idempotency.claim(IdempotencyScope::Batch, None, "died", &first_try).await.unwrap(), None);
    let new = reportq::submit::NewBatch {
        fingerprint: first_try.fingerprint.clone(),
        key: Some("died"),
        caller: &reportq::domain::access::Caller::open(),
        callback: None,
    };
    let (batch, created) = e.submitter.submit_batch_as(vec![item(&request())], new).await.unwrap();
    assert_eq!((batch.id, created), (id, true));
    assert_eq!(e.queue.drain().len(), 1);
    // And a replay of that is a replay.
    let new = reportq::submit::NewBatch {
        fingerprint: first_try.fingerprint.clone(),
        key: Some("died"),
        caller: &reportq::domain::access::Caller::open(),
        callback: None,
    };
    let (again, created) = e.submitter.submit_batch_as(vec![item(&request())], new).await.unwrap();
    assert_eq!((again.job_ids, created), (batch.job_ids, false));
}

#[tokio::test]
async fn a_replayed_batch_makes_no_new_jobs_and_resends_only_queued_ones() {
    let e = env();
    let reqs: Vec<Value> = (0..3)
        .map(|i| {
            let mut v = request();
            v["params"]["title"] = json!(format!("T{i}"));
            v
        })
        .collect();
    let body = json!({ "requests": reqs });
    let batch = e.submitter.submit_batch(reqs.iter().map(item).collect(), &body, Some("b")).await.unwrap();
    assert_eq!(e.queue.drain().len(), 3);
    // Replayed after a first try that sent everything: the same batch, and no message again
    // (a replayed key cannot multiply a batch's messages).
    let again = e.submitter.submit_batch(reqs.iter().map(item).collect(), &body, Some("b")).await.unwrap();
    assert_eq!(again.job_ids, batch.job_ids);
    assert!(e.queue.is_empty());
    // A first try that died sending: the replay re-sends what is still queued, nothing new.
    e.queue.set_down(true);
    let other = json!({ "requests": reqs.clone(), "n": 2 });
    assert!(e.submitter.submit_batch(reqs.iter().map(item).collect(), &other, Some("c")).await.is_err());
    e.queue.set_down(false);
    let first = e.store.jobs_written_before(i64::MAX).await.unwrap().len();
    let died: Uuid =
        e.store.keys().iter().find_map(|k| k.strip_prefix("batches/")?.strip_suffix(".json")?.parse().ok().filter(|id| *id != batch.id)).unwrap();
    let died = e.store.batch(died).await.unwrap().unwrap();
    // One of its jobs moved on meanwhile (a message from the first try did get through).
    e.store.mark(died.id, died.job_ids[0], Status::Succeeded).await.unwrap();
    let replayed = e.submitter.submit_batch(reqs.iter().map(item).collect(), &other, Some("c")).await.unwrap();
    assert_eq!(replayed.job_ids, died.job_ids);
    let resent: Vec<Uuid> = e.queue.drain().into_iter().map(|m| m.job_id).collect();
    assert_eq!(resent, died.job_ids[1..].to_vec());
    assert_eq!(e.store.jobs_written_before(i64::MAX).await.unwrap().len(), first, "no new jobs");
    // That replay completed the sending: another sends nothing.
    e.submitter.submit_batch(reqs.iter().map(item).collect(), &other, Some("c")).await.unwrap();
    assert!(e.queue.is_empty());
    assert_eq!(e.store.jobs_written_before(i64::MAX).await.unwrap().len(), 6);
}

#[tokio::test]
async fn a_job_renders_once_however_often_its_message_comes() {
    let e = env();
    let v = request();
    let (job, _) = e.submitter.submit(item(&v), &v, None, Lane::Bulk).await.unwrap();
    let r = fake(None, Duration::ZERO);
    let w = worker(&e, r.clone(), 5);
    let results = w.process(&[message(job.id, 1), message(job.id, 1)], Duration::from_secs(5)).await;
    let rendered = results.iter().filter(|x| matches!(x.result, Ok(Outcome::Rendered { .. }))).count();
    assert_eq!(rendered, 1, "{results:?}");
    assert_eq!(r.calls.load(Ordering::SeqCst), 1);
    let j = status(&e, job.id).await;
    assert_eq!((j.status, j.attempts), (Status::Succeeded, 1));
    // A late duplicate finds it done.
    let late = w.process(&[message(job.id, 3)], Duration::from_secs(5)).await;
    assert!(matches!(late[0].result, Ok(Outcome::AlreadyDone { status: Status::Succeeded, .. })));
    assert_eq!(r.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn two_workers_racing_for_a_job_one_renders_the_other_backs_off() {
    let e = env();
    let v = request();
    let (job, _) = e.submitter.submit(item(&v), &v, None, Lane::Bulk).await.unwrap();
    let r = fake(None, Duration::from_millis(300));
    let (a, b) = (worker(&e, r.clone(), 5), worker(&e, r.clone(), 5));
    let (ma, mb) = ([message(job.id, 1)], [message(job.id, 1)]);
    let (ra, rb) = tokio::join!(a.process(&ma, Duration::from_secs(5)), b.process(&mb, Duration::from_secs(5)));
    let all: Vec<_> = ra.iter().chain(&rb).collect();
    assert_eq!(all.iter().filter(|x| matches!(x.result, Ok(Outcome::Rendered { .. }))).count(), 1, "{all:?}");
    assert!(all.iter().any(|x| matches!(x.result, Err(WorkerError::Busy(_)) | Ok(Outcome::AlreadyDone { .. }))), "{all:?}");
    assert_eq!(r.calls.load(Ordering::SeqCst), 1);
    // The busy one's message is reported for redelivery.
    let failures = reportq::worker::batch_response(&ra.into_iter().chain(rb).collect::<Vec<_>>()).batch_item_failures.len();
    assert!(failures <= 1);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_a_live_one_is_not() {
    let e = env();
    let v = request();
    let (job, _) = e.submitter.submit(item(&v), &v, None, Lane::Bulk).await.unwrap();
    let (cur, version) = e.store.job(job.id).await.unwrap().unwrap();
    // A worker claimed it and is still within its lease.
    let live = cur.running(now_epoch(), 60);
    let Put::Written(version) = e.store.replace_job(&live, &version).await.unwrap() else { panic!() };
    let r = fake(None, Duration::ZERO);
    let w = worker(&e, r.clone(), 5);
    let res = w.process(&[message(job.id, 1)], Duration::from_secs(5)).await;
    assert!(matches!(res[0].result, Err(WorkerError::Busy(_))), "{res:?}");
    assert_eq!(r.calls.load(Ordering::SeqCst), 0);
    // Its worker died: the lease ran out, the next delivery takes it over.
    let dead = Job { lease_until_epoch: Some(now_epoch() - 1), ..live };
    e.store.replace_job(&dead, &version).await.unwrap();
    let res = w.process(&[message(job.id, 2)], Duration::from_secs(5)).await;
    assert!(matches!(res[0].result, Ok(Outcome::Rendered { .. })), "{res:?}");
    assert_eq!(status(&e, job.id).await.attempts, 2);
}

#[tokio::test]
async fn on_the_last_delivery_a_worker_waits_out_a_dead_lease_and_finishes_the_job() {
    let e = env();
    let v = request();
    let (job, _) = e.submitter.submit(item(&v), &v, None, Lane::Bulk).await.unwrap();
    let (cur, version) = e.store.job(job.id).await.unwrap().unwrap();
    e.store.replace_job(&cur.running(now_epoch(), 1), &version).await.unwrap();
    let w = worker(&e, fake(None, Duration::ZERO), 3);
    let res = w.process(&[message(job.id, 3)], Duration::from_secs(5)).await;
    assert!(matches!(res[0].result, Ok(Outcome::Rendered { .. })), "{res:?}");
    assert_eq!(status(&e, job.id).await.status, Status::Succeeded);
}

#[tokio::test]
async fn permanent_errors_fail_the_job_transient_ones_retry_until_the_last_delivery() {
    let e = env();
    let v = request();
    let (tex, _) = e.submitter.submit(item(&v), &v, None, Lane::Bulk).await.unwrap();
    let w = worker(&e, fake(Some(|| RenderError::Tex { message: "bad".into(), log_excerpt: String::new() }), Duration::ZERO), 3);
    let res = w.process(&[message(tex.id, 1)], Duration::from_secs(5)).await;
    assert!(matches!(&res[0].result, Ok(Outcome::Failed { code, .. }) if code == "tex_error"), "{res:?}");
    assert!(reportq::worker::batch_response(&res).batch_item_failures.is_empty(), "a permanent failure lets the message go");

    let (flaky, _) = e.submitter.submit(item(&v), &v, None, Lane::Bulk).await.unwrap();
    let w = worker(&e, fake(Some(|| RenderError::Child("crashed".into())), Duration::ZERO), 3);
    for n in 1..=2 {
        let res = w.process(&[message(flaky.id, n)], Duration::from_secs(5)).await;
        assert_eq!(reportq::worker::batch_response(&res).batch_item_failures.len(), 1);
        // Handed back at once, not left running until the lease runs out.
        assert_eq!(status(&e, flaky.id).await.status, Status::Queued);
    }
    let res = w.process(&[message(flaky.id, 3)], Duration::from_secs(5)).await;
    assert_eq!(reportq::worker::batch_response(&res).batch_item_failures.len(), 1, "the message goes on to the DLQ");
    let j = status(&e, flaky.id).await;
    assert_eq!((j.status, j.error.clone().unwrap().code.as_str()), (Status::Failed, "retries_exhausted"));
    // The timeline tells the story: each claim, each failed attempt with its code, the end.
    use reportq::domain::job::EventKind::*;
    let kinds: Vec<_> = j.timeline.iter().map(|e| (e.event, e.attempt, e.code.as_deref())).collect();
    assert_eq!(
        kinds,
        vec![
            (Queued, None, None),
            (Claimed, Some(1), None),
            (AttemptFailed, Some(1), Some("render_process")),
            (Claimed, Some(2), None),
            (AttemptFailed, Some(2), Some("render_process")),
            (Claimed, Some(3), None),
            (AttemptFailed, Some(3), Some("render_process")),
            (Failed, None, Some("retries_exhausted")),
        ]
    );
    assert!(j.timeline.windows(2).all(|w| w[0].at_ms <= w[1].at_ms), "in time order");
}

#[tokio::test]
async fn a_rendered_jobs_timeline_has_each_step_with_its_duration() {
    let e = env();
    let v = request();
    let (job, _) = e.submitter.submit(item(&v), &v, None, Lane::Bulk).await.unwrap();
    worker(&e, fake(None, Duration::from_millis(50)), 5).process(&[message(job.id, 1)], Duration::from_secs(5)).await;
    let j = status(&e, job.id).await;
    use reportq::domain::job::EventKind::*;
    assert_eq!(j.timeline.iter().map(|e| e.event).collect::<Vec<_>>(), vec![Queued, Claimed, Rendered, Uploaded, Succeeded]);
    assert!(j.timeline[1].worker.as_deref().is_some_and(|w| w.contains(':')), "the claim names the worker");
    assert!(j.timeline[2].ms.unwrap() >= 50, "the render's time: {:?}", j.timeline[2]);
    // As the API shows it.
    let view = reportq::wire::JobView::of(&j);
    assert_eq!(view.timeline.len(), 5);
    assert!(view.timeline[0].at.ends_with('Z') && view.timeline[0].at.contains('.'), "{}", view.timeline[0].at);
}

#[tokio::test]
async fn an_uploaded_report_is_recovered_without_rendering_again() {
    let e = env();
    let v = request();
    let (job, _) = e.submitter.submit(item(&v), &v, None, Lane::Bulk).await.unwrap();
    // A worker uploaded the PDF and died before recording it.
    e.store.create_report(job.id, b"%PDF-1.7 earlier %%EOF".to_vec(), &"a".repeat(64)).await.unwrap();
    let r = fake(None, Duration::ZERO);
    let res = worker(&e, r.clone(), 5).process(&[message(job.id, 2)], Duration::from_secs(5)).await;
    assert!(matches!(res[0].result, Ok(Outcome::Recovered { .. })), "{res:?}");
    assert_eq!(r.calls.load(Ordering::SeqCst), 0);
    assert_eq!(status(&e, job.id).await.output.unwrap().sha256, "a".repeat(64));
}

#[tokio::test]
async fn a_message_for_no_job_is_retried_towards_the_dlq() {
    let e = env();
    let res = worker(&e, fake(None, Duration::ZERO), 5).process(&[message(Uuid::new_v4(), 1)], Duration::from_secs(5)).await;
    assert!(matches!(res[0].result, Err(WorkerError::NoSuchJob(_))));
    assert_eq!(reportq::worker::batch_response(&res).batch_item_failures.len(), 1);
}

#[tokio::test]
async fn the_sweep_expires_jobs_whose_message_can_no_longer_arrive() {
    let e = env();
    let v = request();
    let day = 86_400;
    let now = now_epoch();
    // An orphan: queued five days ago (its message expired after four, or was never sent).
    let orphan = Job::new(Uuid::new_v4(), None, "summary", v.clone(), now - 5 * day);
    e.store.create_job(&orphan).await.unwrap();
    // Running under a lease that ran out long ago, and one still leased (a worker has it).
    let dead = Job::new(Uuid::new_v4(), None, "summary", v.clone(), now - 5 * day).running(now - 5 * day, 60);
    e.store.create_job(&dead).await.unwrap();
    let alive = Job::new(Uuid::new_v4(), None, "summary", v.clone(), now - 5 * day).running(now, 600);
    e.store.create_job(&alive).await.unwrap();
    // Recent, or finished: left alone.
    let fresh = Job::new(Uuid::new_v4(), None, "summary", v.clone(), now - 3600);
    e.store.create_job(&fresh).await.unwrap();
    let done = Job::new(Uuid::new_v4(), None, "summary", v.clone(), now - 5 * day)
        .succeeded(now - 5 * day, reportq::domain::job::Output { key: "k".into(), size: 1, sha256: "s".into() });
    e.store.create_job(&done).await.unwrap();

    let report = reportq::sweep::sweep(e.store.as_ref(), now, 4 * day, None).await.unwrap();
    assert_eq!((report.checked, report.expired), (4, 2));
    for id in [orphan.id, dead.id] {
        let j = status(&e, id).await;
        assert_eq!((j.status, j.error.unwrap().code.as_str()), (Status::Failed, "expired"));
    }
    assert_eq!(status(&e, alive.id).await.status, Status::Running);
    assert_eq!(status(&e, fresh.id).await.status, Status::Queued);
    assert_eq!(status(&e, done.id).await.status, Status::Succeeded);
    // Again: nothing left to do.
    assert_eq!(reportq::sweep::sweep(e.store.as_ref(), now, 4 * day, None).await.unwrap().expired, 0);
}

#[tokio::test]
async fn a_single_job_can_take_the_interactive_lane_and_a_batch_never_does() {
    let e = env();
    let fast = Arc::new(MemoryQueue::new());
    let submitter = e.submitter.clone().with_interactive(fast.clone());
    let v = request();
    let (job, _) = submitter.submit(item(&v), &v, Some("lane"), Lane::Interactive).await.unwrap();
    assert_eq!(fast.drain(), vec![JobMessage::new(job.id, Lane::Interactive)]);
    assert!(e.queue.is_empty());
    // A replayed key sends nothing again: the message is on its lane already.
    submitter.submit(item(&v), &v, Some("lane"), Lane::Interactive).await.unwrap();
    assert!(fast.is_empty() && e.queue.is_empty());
    let batch = submitter.submit_batch(vec![item(&v), item(&v)], &json!([v.clone(), v.clone()]), None).await.unwrap();
    assert!(fast.is_empty());
    assert_eq!(e.queue.drain(), batch.job_ids.iter().map(|&id| JobMessage::bulk(id)).collect::<Vec<_>>());
}

/// A report left to its default standard is tagged (PDF/A-2a and PDF/UA-1), whatever its size:
/// no size quietly downgrades it to untagged PDF/A-2b.
#[test]
fn the_default_standard_is_tagged_at_every_size() {
    use reportq::domain::PdfStandard;
    let example: Value = serde_json::from_slice(&crate::common::example("diagram.json")).unwrap();
    let with_models = |n: usize, standard: Option<&str>| {
        let mut req = example.clone();
        let m = req["params"]["models"][0].clone();
        req["params"]["models"] = Value::Array(
            (0..n)
                .map(|i| {
                    let mut m = m.clone();
                    m["model_name"] = json!(format!("Archive {i}"));
                    m
                })
                .collect(),
        );
        if let Some(s) = standard {
            req["pdf"] = json!({ "standard": s });
        }
        req
    };
    // Tagging no longer grows faster than the report (one TeX pass, the tree built in Rust):
    // every size the model cap allows is tagged by default and may ask for a-2a.
    for n in [2, 60, reportq::domain::diagram::MAX_MODELS] {
        assert_eq!(ReportRequest::from_value(with_models(n, None)).unwrap().pdf.standard, PdfStandard::A2a, "{n} models");
    }
    assert_eq!(ReportRequest::from_value(with_models(60, Some("a-2a"))).unwrap().pdf.standard, PdfStandard::A2a);
    assert_eq!(ReportRequest::from_value(with_models(60, Some("a-2b"))).unwrap().pdf.standard, PdfStandard::A2b);
    let mut s: Value = serde_json::from_slice(&crate::common::example("summary.json")).unwrap();
    s["params"]["sections"][0]["tables"] = json!([{ "header": ["a", "b", "c", "d"], "rows": vec![json!(["1", "2", "3", "4"]); 1_500] }]);
    assert_eq!(ReportRequest::from_value(s).unwrap().pdf.standard, PdfStandard::A2a);
}
