//! The job pipeline against a real LocalStack: API over HTTP, worker, S3 conditional writes,
//! SQS redelivery and DLQ, presigned URLs with signature checks.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::app::{App, Opts, app};
use common::aws::{FaultProxy, LocalStack, list_keys, queue_depth, stored_jobs};
use reportq::domain::job::{Job, Status};
use reportq::queue::{JobMessage, JobQueue};
use reportq::worker::Outcome;
use serde_json::{Value, json};
use uuid::Uuid;

const EXE: &str = env!("CARGO_BIN_EXE_reportq");

/// The pipeline tests' request: a one-model DiAGRAM report, untagged PDF/A-2b (the fixture
/// says so) so that a 200-job batch tests the queue, not TeX; tagged output has tests of its
/// own (archival, render, e2e).
fn small(org: &str) -> Value {
    let mut v: Value = serde_json::from_slice(&std::fs::read(common::root().join("tests/fixtures/diagram-small.json")).unwrap()).unwrap();
    v["params"]["organisation"] = json!(org);
    v
}

async fn job_json(app: &App, id: &str) -> Value {
    let r = app.get(&format!("/v1/reports/{id}")).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Polls the worker until `done` holds or `limit` passes; returns every outcome seen.
async fn drive(app: &App, limit: Duration, mut done: impl FnMut(&[reportq::worker::RecordResult]) -> bool) -> Vec<reportq::worker::RecordResult> {
    let end = Instant::now() + limit;
    let mut all = Vec::new();
    while Instant::now() < end {
        let got = app.worker.poll_once(&app.queue, Duration::from_secs(1)).await.unwrap();
        all.extend(got);
        if done(&all) {
            return all;
        }
    }
    panic!("not done within {limit:?}; outcomes: {all:?}");
}

fn rendered(results: &[reportq::worker::RecordResult]) -> usize {
    results.iter().filter(|r| matches!(r.result, Ok(Outcome::Rendered { .. }))).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_delivery_renders_once_and_stays_succeeded() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts { visibility_secs: 2, ..Opts::new(EXE) }).await;
    let r = app.post_json("/v1/reports", &small("Twice Delivered Archive")).await;
    assert_eq!(r.status(), 202);
    let id: Uuid = r.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().parse().unwrap();
    // Unguessable: a random (v4) UUID, 122 random bits, not a counter or a timestamp.
    assert_eq!(id.get_version_num(), 4);
    // SQS delivers at least once: the same message twice, at the same time.
    app.queue.send(&JobMessage::bulk(id)).await.unwrap();
    let results = drive(&app, Duration::from_secs(60), |all| {
        all.iter().filter(|r| matches!(r.result, Ok(Outcome::AlreadyDone { .. }) | Ok(Outcome::Rendered { .. }))).count() >= 2
    })
    .await;
    assert_eq!(rendered(&results), 1, "{results:?}");
    let (job, _) = app.jobs.job(id).await.unwrap().unwrap();
    assert_eq!(job.status, Status::Succeeded);
    assert_eq!(job.attempts, 1);
    let sha = job.output.clone().unwrap().sha256;

    // A late duplicate after success: nothing rendered, still succeeded.
    app.queue.send(&JobMessage::bulk(id)).await.unwrap();
    let late = drive(&app, Duration::from_secs(20), |all| !all.is_empty()).await;
    assert!(matches!(late[0].result, Ok(Outcome::AlreadyDone { status: Status::Succeeded, .. })), "{late:?}");
    assert_eq!(app.jobs.job(id).await.unwrap().unwrap().0.status, Status::Succeeded);

    // A worker that uploaded the PDF and died before recording it: the next delivery finds
    // the PDF and records it without rendering again.
    let (cur, etag) = app.jobs.job(id).await.unwrap().unwrap();
    let crashed = Job { status: Status::Running, lease_until_epoch: Some(0), output: None, finished_at_epoch: None, ..cur };
    assert!(matches!(app.jobs.replace_job(&crashed, &etag).await.unwrap(), reportq::store::Put::Written(_)));
    app.queue.send(&JobMessage::bulk(id)).await.unwrap();
    let again = drive(&app, Duration::from_secs(20), |all| !all.is_empty()).await;
    assert!(matches!(again[0].result, Ok(Outcome::Recovered { .. })), "{again:?}");
    let (job, _) = app.jobs.job(id).await.unwrap().unwrap();
    assert_eq!((job.status, job.output.unwrap().sha256), (Status::Succeeded, sha));
    assert_eq!(queue_depth(&app.sqs, &app.res.queue_url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn permanent_error_fails_the_job_and_is_not_retried() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts { visibility_secs: 1, ..Opts::new(EXE) }).await;
    // A record the API would refuse (say, written by an older version with a template since
    // removed): the worker's own validation fails it for good.
    let id = Uuid::new_v4();
    let bad = Job::new(id, None, "retired", json!({"template": "retired", "params": {}}), reportq::domain::now_epoch());
    assert!(app.jobs.create_job(&bad).await.unwrap());
    app.queue.send(&JobMessage::bulk(id)).await.unwrap();
    let results = drive(&app, Duration::from_secs(20), |all| !all.is_empty()).await;
    assert!(matches!(&results[0].result, Ok(Outcome::Failed { code, .. }) if code == "invalid_params"), "{results:?}");
    let v = job_json(&app, &id.to_string()).await;
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["code"], "invalid_params");
    assert!(v["error"]["message"].as_str().unwrap().contains("unknown template"), "{v}");
    let pdf = app.get(&format!("/v1/reports/{id}/pdf")).await;
    assert_eq!(pdf.status(), 409);
    // Not retried: past the visibility timeout the queue and the DLQ are empty.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(app.queue.receive(10, Duration::from_secs(1)).await.unwrap().is_empty());
    assert_eq!(queue_depth(&app.sqs, &app.res.dlq_url).await, (0, 0));
    assert_eq!(app.jobs.job(id).await.unwrap().unwrap().0.attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_s3_fault_is_retried_then_succeeds() {
    let ls = LocalStack::start();
    let proxy = FaultProxy::start(&ls.endpoint).await;
    let app = app(&ls.endpoint, Opts { visibility_secs: 2, worker_s3_endpoint: Some(proxy.endpoint.clone()), ..Opts::new(EXE) }).await;
    let r = app.post_json("/v1/reports", &small("Flaky Storage Archive")).await;
    assert_eq!(r.status(), 202);
    let id: Uuid = r.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().parse().unwrap();

    proxy.fail(true);
    let failed = drive(&app, Duration::from_secs(30), |all| !all.is_empty()).await;
    let err = failed[0].result.as_ref().unwrap_err();
    assert_eq!(err.code(), "store_unavailable", "{err}");
    let resp = reportq::worker::batch_response(&failed);
    assert_eq!(resp.batch_item_failures.len(), 1, "reported for retry");
    assert_eq!(app.jobs.job(id).await.unwrap().unwrap().0.status, Status::Queued);

    proxy.fail(false);
    let ok = drive(&app, Duration::from_secs(30), |all| rendered(all) == 1).await;
    assert_eq!(rendered(&ok), 1);
    let (job, _) = app.jobs.job(id).await.unwrap().unwrap();
    assert_eq!(job.status, Status::Succeeded);
    assert_eq!(queue_depth(&app.sqs, &app.res.queue_url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_message_ends_in_the_dlq() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts { visibility_secs: 1, max_receive: 2, ..Opts::new(EXE) }).await;
    app.sqs.send_message().queue_url(&app.res.queue_url).message_body("{\"not\": \"a job\"}").send().await.unwrap();
    // A job whose record is gone: retried, then dead-lettered too.
    app.queue.send(&JobMessage::bulk(Uuid::new_v4())).await.unwrap();
    let end = Instant::now() + Duration::from_secs(45);
    let mut deliveries = 0;
    loop {
        deliveries += app.worker.poll_once(&app.queue, Duration::from_secs(1)).await.unwrap().len();
        if queue_depth(&app.sqs, &app.res.dlq_url).await.0 == 2 {
            break;
        }
        assert!(Instant::now() < end, "messages never reached the DLQ");
    }
    assert_eq!(deliveries, 4, "each delivered maxReceiveCount (2) times");
    let dead = app.sqs.receive_message().queue_url(&app.res.dlq_url).max_number_of_messages(10).send().await.unwrap();
    let bodies: HashSet<&str> = dead.messages().iter().filter_map(|m| m.body()).collect();
    assert!(bodies.contains("{\"not\": \"a job\"}"), "{bodies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_keeps_failing_is_marked_failed_on_its_last_delivery() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts { visibility_secs: 1, max_receive: 2, ..Opts::new(EXE) }).await;
    let r = app.post_json("/v1/reports", &small("Stuck Archive")).await;
    let id: Uuid = r.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().parse().unwrap();
    // Every render fails for a reason worth retrying: a worker whose TeX child executable is
    // missing.
    // No layer required: the render itself fails, not the sandbox refusal (the probe cannot
    // start that child either).
    let render = common::render_config(std::path::Path::new("/nonexistent/reportq"));
    let broken =
        reportq::worker::Worker::new(app.jobs.clone(), std::sync::Arc::new(reportq::Renderer::new(render).unwrap()), app.worker_cfg.clone(), None);
    let end = Instant::now() + Duration::from_secs(45);
    loop {
        let got = broken.poll_once(&app.queue, Duration::from_secs(1)).await.unwrap();
        for r in &got {
            assert_eq!(r.result.as_ref().unwrap_err().code(), "render_process");
        }
        if queue_depth(&app.sqs, &app.res.dlq_url).await.0 == 1 {
            break;
        }
        // A failed attempt hands the job back; should that write be lost, let the lease lapse.
        let (j, etag) = app.jobs.job(id).await.unwrap().unwrap();
        if j.status == Status::Running {
            let lapsed = Job { lease_until_epoch: Some(0), ..j };
            let _ = app.jobs.replace_job(&lapsed, &etag).await.unwrap();
        }
        assert!(Instant::now() < end, "never reached the DLQ");
    }
    let v = job_json(&app, &id.to_string()).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["error"]["code"], "retries_exhausted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_of_200_all_succeed_nothing_lost_or_duplicated() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts::new(EXE)).await;
    let requests: Vec<Value> = (0..200).map(|i| small(&format!("Batch Archive {i:03}"))).collect();
    let r = app.post_json("/v1/reports/batch", &json!({ "requests": requests })).await;
    assert_eq!(r.status(), 202);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/v1/batches/"));
    let body: Value = r.json().await.unwrap();
    let batch = body["batch_id"].as_str().unwrap().to_string();
    let ids: Vec<String> = body["job_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 200);

    let st: Value = app.get(&format!("/v1/batches/{batch}")).await.json().await.unwrap();
    assert_eq!(st["counts"]["queued"], 200);
    assert_eq!(st["jobs"].as_array().unwrap().len(), 100, "first page");
    assert_eq!(st["next_cursor"], "100");

    let results = drive(&app, Duration::from_secs(400), |all| rendered(all) >= 200).await;
    let mut per_job: HashMap<Uuid, usize> = HashMap::new();
    for r in &results {
        if let Ok(Outcome::Rendered { job_id, .. }) = r.result {
            *per_job.entry(job_id).or_default() += 1;
        }
    }
    assert_eq!(per_job.len(), 200);
    assert!(per_job.values().all(|&n| n == 1), "a job rendered twice");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/batches/{batch}?limit=64&cursor={c}"),
            None => format!("/v1/batches/{batch}?limit=64"),
        };
        let page: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(page["counts"]["succeeded"], 200, "{page}");
        assert_eq!(page["done"], true);
        for j in page["jobs"].as_array().unwrap() {
            assert_eq!(j["status"], "succeeded");
            seen.push(j["job_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.into()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every job, in request order");
    let pdfs = list_keys(&app.s3, &app.res.bucket).await.into_iter().filter(|k| k.starts_with("reports/")).count();
    assert_eq!(pdfs, 200);
    assert_eq!(queue_depth(&app.sqs, &app.res.queue_url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presigned_urls_work_and_refuse_tampering_and_expiry() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts::new(EXE)).await;
    let r = app.post_json("/v1/reports", &small("Signed URL Archive")).await;
    let id = r.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_string();
    drive(&app, Duration::from_secs(30), |all| rendered(all) == 1).await;
    let job = job_json(&app, &id).await;
    let url = job["result"]["url"].as_str().unwrap().to_string();
    let plain = reqwest::Client::new();
    let ok = plain.get(&url).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let cd = ok.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(cd.starts_with("attachment; filename=\"models-") && cd.ends_with(".pdf\""), "{cd}");
    let bytes = ok.bytes().await.unwrap();
    assert_eq!(hex::encode(sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes))), job["result"]["sha256"]);

    // The signature's last hex digit changed.
    let flipped = {
        let (head, last) = url.split_at(url.len() - 1);
        format!("{head}{}", if last == "0" { "1" } else { "0" })
    };
    assert_eq!(plain.get(&flipped).send().await.unwrap().status(), 403);
    // Another object with this signature.
    let other = url.replace(&format!("reports/{id}.pdf"), &format!("jobs/{id}.json"));
    assert_eq!(plain.get(&other).send().await.unwrap().status(), 403);
    // A longer expiry than was signed.
    let longer = url.replace("X-Amz-Expires=900", "X-Amz-Expires=90000");
    assert_ne!(longer, url);
    assert_eq!(plain.get(&longer).send().await.unwrap().status(), 403);
    // Expired.
    let short = reportq::store::S3Store::new(app.s3.clone(), app.res.bucket.clone())
        .presign_get(&format!("reports/{id}.pdf"), Duration::from_secs(1), "x.pdf", "application/pdf")
        .await
        .unwrap();
    assert_eq!(plain.get(&short.url).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(plain.get(&short.url).send().await.unwrap().status(), 403);

    // /pdf redirects to a fresh URL.
    let redirect = app.get(&format!("/v1/reports/{id}/pdf")).await;
    assert_eq!(redirect.status(), 303);
    let loc = redirect.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(plain.get(&loc).send().await.unwrap().bytes().await.unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_refused_and_nothing_is_stored_or_sent() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts::new(EXE)).await;
    let before = list_keys(&app.s3, &app.res.bucket).await;
    let send = |path: &'static str, ct: Option<&'static str>, body: Vec<u8>| {
        let mut rb = app.http.post(app.url(path)).body(body);
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        rb.send()
    };
    let good = serde_json::to_vec(&small("Refused")).unwrap();
    let mut bad_params = small("x");
    bad_params["params"]["models"][0]["response"]["Checksum"] = json!([50, 30, 5]);
    // (path, content type, body, status, error code, field)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("/v1/reports", Some("text/plain"), good.clone(), 415, "unsupported_media_type", None),
        ("/v1/reports", None, good.clone(), 415, "unsupported_media_type", None),
        ("/v1/reports", Some("application/json"), b"{not json".to_vec(), 400, "malformed_json", None),
        ("/v1/reports", Some("application/json"), br#"{"template":"nope","params":{}}"#.to_vec(), 400, "invalid_request", Some("template")),
        (
            "/v1/reports",
            Some("application/json"),
            serde_json::to_vec(&bad_params).unwrap(),
            400,
            "invalid_request",
            Some("params.models[0].response.Checksum"),
        ),
        ("/v1/reports", Some("application/json"), vec![b' '; 2 << 20], 413, "too_large", None),
        ("/v1/reports/batch", Some("application/json"), br#"{"requests":[]}"#.to_vec(), 400, "invalid_request", Some("requests")),
        (
            "/v1/reports/batch",
            Some("application/json"),
            serde_json::to_vec(&json!({"requests": vec![small("a"); 1001]})).unwrap(),
            400,
            "invalid_request",
            Some("requests"),
        ),
        ("/api/report/pdf", Some("application/json"), br#"{"a":1}"#.to_vec(), 400, "invalid_request", None),
        (
            "/api/report/pdf",
            Some("application/json"),
            serde_json::to_vec(&json!([bad_params["params"]["models"][0]])).unwrap(),
            400,
            "invalid_request",
            Some("params.models[0].response.Checksum"),
        ),
    ];
    for (path, ct, body, status, code, field) in cases {
        let r = send(path, ct, body).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path} {ct:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{path}: {v}");
        if let Some(f) = field {
            assert!(v["error"]["field"].as_str().unwrap().contains(f), "{path}: {v}");
        }
    }
    // A batch with two bad items among good ones: each named, nothing queued.
    let mut items = vec![small("ok"); 30];
    items[3] = json!({"template": "diagram", "params": {"models": []}});
    items[17] = bad_params.clone();
    let r = app.post_json("/v1/reports/batch", &json!({ "requests": items })).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let listed: Vec<(u64, String)> =
        v["error"]["items"].as_array().unwrap().iter().map(|i| (i["index"].as_u64().unwrap(), i["field"].as_str().unwrap().to_string())).collect();
    assert_eq!(listed, vec![(3, "params.models".to_string()), (17, "params.models[0].response.Checksum".to_string())]);
    // A bad Idempotency-Key.
    let r = app.http.post(app.url("/v1/reports")).header("idempotency-key", "x".repeat(300)).json(&small("k")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], "Idempotency-Key");

    assert_eq!(list_keys(&app.s3, &app.res.bucket).await, before, "nothing stored");
    assert!(app.queue.receive(10, Duration::from_secs(1)).await.unwrap().is_empty(), "nothing queued");

    // Unknown ids.
    for path in [
        format!("/v1/reports/{}", Uuid::new_v4()),
        format!("/v1/reports/{}/pdf", Uuid::new_v4()),
        format!("/v1/batches/{}", Uuid::new_v4()),
        "/v1/reports/not-a-uuid".to_string(),
        "/v1/nothing-here".to_string(),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "not_found");
    }
    let r = app.http.delete(app.url("/v1/reports")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_key_returns_the_same_job_and_batch() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts::new(EXE)).await;
    let post = |path: &'static str, key: &'static str, body: Value| app.http.post(app.url(path)).header("idempotency-key", key).json(&body).send();
    let a: Value = post("/v1/reports", "k-1", small("Once")).await.unwrap().json().await.unwrap();
    let b: Value = post("/v1/reports", "k-1", small("Once")).await.unwrap().json().await.unwrap();
    assert_eq!(a["job_id"], b["job_id"]);
    let r = post("/v1/reports", "k-1", small("Something else")).await.unwrap();
    assert_eq!(r.status(), 422);
    let reqs = json!({ "requests": [small("B1"), small("B2"), small("B3")] });
    let x: Value = post("/v1/reports/batch", "k-2", reqs.clone()).await.unwrap().json().await.unwrap();
    let y: Value = post("/v1/reports/batch", "k-2", reqs.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(x["batch_id"], y["batch_id"]);
    assert_eq!(x["job_ids"], y["job_ids"]);
    assert_eq!(stored_jobs(&app.s3, &app.res.bucket).await, 4, "one job + a batch of three");
    // Neither replay sent anything again (each first try sent its messages, and marked so):
    // four messages, four renders.
    let results = drive(&app, Duration::from_secs(60), |all| rendered(all) >= 4).await;
    assert_eq!(results.len(), 4, "{results:?}");
    let extra = app.worker.poll_once(&app.queue, Duration::from_secs(2)).await.unwrap();
    assert!(extra.is_empty(), "a replay sent a message again: {extra:?}");
    assert_eq!(rendered(&results), 4, "{results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn diagram_pdf_route_answers_the_pdf_or_an_error_never_other_2xx() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts { tweak: Box::new(|c, _| c.pdf_wait = Duration::from_millis(500)), ..Opts::new(EXE) }).await;
    let mut models = small("unused")["params"]["models"].clone();
    models[0]["model_name"] = json!("Old Route Archive");
    // No worker: the wait runs out and the answer is an error with Retry-After, never a 2xx
    // (the frontend would save a 2xx body as the PDF).
    let t = Instant::now();
    let r = app.post_json("/api/report/pdf", &models).await;
    assert_eq!(r.status(), 503);
    assert!(t.elapsed() >= Duration::from_millis(500));
    assert_eq!(r.headers()["retry-after"], "5");
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["error"]["code"], "report_pending", "{first}");
    assert!(first["error"]["message"].as_str().unwrap().contains("send the same request again"), "{first}");
    // The user's retry (no Idempotency-Key: the route derives one from the body) joins that job.
    let second: Value = app.post_json("/api/report/pdf", &models).await.json().await.unwrap();
    assert_eq!(second["job_id"], first["job_id"], "{second}");
    // With a worker running: the PDF itself, as the old route answered, from the same job.
    let stop = app.spawn_worker();
    // As the user does: send the same export again while it answers report_pending.
    let mut r = app.http.post(app.url("/api/report/pdf")).json(&models).timeout(Duration::from_secs(60)).send().await.unwrap();
    for _ in 0..60 {
        if r.status() != 503 {
            break;
        }
        r = app.post_json("/api/report/pdf", &models).await;
    }
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("models-"));
    let pdf = r.bytes().await.unwrap();
    assert!(common::squash(&common::pdf_text(&pdf)).contains("OldRouteArchive"));
    let jobs = stored_jobs(&app.s3, &app.res.bucket).await;
    assert_eq!(jobs, 1, "three tries of one export made one job");
    // Another body is another job.
    models[0]["notes"] = json!("changed");
    let mut r = app.post_json("/api/report/pdf", &models).await;
    for _ in 0..60 {
        if r.status() != 503 {
            break;
        }
        r = app.post_json("/api/report/pdf", &models).await;
    }
    assert_eq!(r.status(), 200);
    let jobs = stored_jobs(&app.s3, &app.res.bucket).await;
    assert_eq!(jobs, 2);
    drop(stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn diagram_pdf_over_the_inline_limit_is_a_redirect_to_s3() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts { tweak: Box::new(|c, _| c.inline_pdf_max = 1000), ..Opts::new(EXE) }).await;
    let mut models = small("unused")["params"]["models"].clone();
    models[0]["model_name"] = json!("Large Archive");
    let stop = app.spawn_worker();
    let r = app.post_json("/api/report/pdf", &models).await;
    assert_eq!(r.status(), 303);
    let url = r.headers()["location"].to_str().unwrap().to_string();
    assert!(url.starts_with(&app.res.endpoint), "{url}");
    let pdf = reqwest::get(&url).await.unwrap();
    assert_eq!(pdf.status(), 200);
    assert!(common::squash(&common::pdf_text(&pdf.bytes().await.unwrap())).contains("LargeArchive"));
    drop(stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_whose_worker_died_is_finished_on_its_last_delivery() {
    // Found by the soak (maxReceiveCount 2, a worker SIGKILLed mid-render): the message came
    // back while the dead worker's lease still ran, on its last delivery; the worker left it
    // ("busy"), SQS moved it to the DLQ and the job stayed `running` for good.
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts { visibility_secs: 2, max_receive: 1, ..Opts::new(EXE) }).await;
    let r = app.post_json("/v1/reports", &small("Orphaned Lease Archive")).await;
    let id: Uuid = r.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().parse().unwrap();
    // A worker claimed the job and was killed: its lease runs a few seconds more.
    let (j, etag) = app.jobs.job(id).await.unwrap().unwrap();
    let dead = j.running(reportq::domain::now_epoch(), 3);
    assert!(matches!(app.jobs.replace_job(&dead, &etag).await.unwrap(), reportq::store::Put::Written(_)));
    // The message comes back on its last delivery (maxReceiveCount 1).
    let results = drive(&app, Duration::from_secs(30), |all| !all.is_empty()).await;
    assert!(matches!(results[0].result, Ok(Outcome::Rendered { .. })), "{results:?}");
    let (job, _) = app.jobs.job(id).await.unwrap().unwrap();
    assert_eq!((job.status, job.attempts), (Status::Succeeded, 2));
    assert_eq!(queue_depth(&app.sqs, &app.res.dlq_url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_single_report_takes_the_interactive_lane_and_a_batch_the_bulk_one() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts { lanes: true, ..Opts::new(EXE) }).await;
    let interactive = app.res.interactive_url.clone();
    let batch = json!({ "requests": [small("Bulk One"), small("Bulk Two")] });
    let b: Value = app.post_json("/v1/reports/batch", &batch).await.json().await.unwrap();
    let one: Value = app.post_json("/v1/reports", &small("Waiting Person")).await.json().await.unwrap();
    // Each message is on its own lane's queue, and says which lane it is.
    assert_eq!(queue_depth(&app.sqs, &app.res.queue_url).await, (2, 0));
    assert_eq!(queue_depth(&app.sqs, &interactive).await, (1, 0));
    let got = app.sqs.receive_message().queue_url(&interactive).visibility_timeout(0).send().await.unwrap();
    let msg: JobMessage = serde_json::from_str(got.messages()[0].body().unwrap()).unwrap();
    assert_eq!((msg.job_id.to_string(), msg.lane), (one["job_id"].as_str().unwrap().to_string(), reportq::queue::Lane::Interactive));
    // A worker polls both queues and finishes all three.
    let stop = app.spawn_worker();
    let ids: Vec<Uuid> =
        std::iter::once(&one["job_id"]).chain(b["job_ids"].as_array().unwrap()).map(|v| v.as_str().unwrap().parse().unwrap()).collect();
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let mut done = 0;
        for id in &ids {
            done += usize::from(app.jobs.job(*id).await.unwrap().unwrap().0.status == Status::Succeeded);
        }
        if done == ids.len() {
            break;
        }
        assert!(Instant::now() < until, "only {done} of {} jobs finished", ids.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweep_expires_an_orphaned_queued_job_in_s3() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts::new(EXE)).await;
    let orphan: Value = app.post_json("/v1/reports", &small("Orphan")).await.json().await.unwrap();
    let id = orphan["job_id"].as_str().unwrap().to_string();
    // Its message is lost (consumed by nobody, expired): only the sweep can end the job.
    app.sqs.purge_queue().queue_url(&app.res.queue_url).send().await.unwrap();
    let day = 86_400;
    let store = reportq::store::S3Store::new(app.s3.clone(), app.res.bucket.clone());
    // Now: the job is minutes old, not expired.
    let now = reportq::domain::now_epoch();
    assert_eq!(reportq::sweep::sweep(&store, now, 4 * day, None).await.unwrap().expired, 0);
    // Five days on (the clock moved, not the record: S3 lists it as written before the cutoff).
    let report = reportq::sweep::sweep(&store, now + 5 * day, 4 * day, None).await.unwrap();
    assert_eq!((report.checked, report.expired), (1, 1));
    let job = job_json(&app, &id).await;
    assert_eq!((job["status"].as_str(), job["error"]["code"].as_str()), (Some("failed"), Some("expired")), "{job}");
    assert_eq!(job["timeline"].as_array().unwrap().last().unwrap()["event"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_batches_is_refused_past_the_backlog_limit_and_nothing_accepted_is_lost() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts { tweak: Box::new(|c, _| c.max_backlog = 50), ..Opts::new(EXE) }).await;
    let batch = json!({ "requests": (0..20).map(|i| small(&format!("Flood {i}"))).collect::<Vec<_>>() });
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for _ in 0..6 {
        let r = app.post_json("/v1/reports/batch", &batch).await;
        match r.status().as_u16() {
            202 => accepted.extend(r.json::<Value>().await.unwrap()["job_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string())),
            503 => {
                assert_eq!(r.headers()["retry-after"], "30");
                assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "overloaded");
                refused += 1;
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!((accepted.len(), refused), (40, 4), "two batches fit under 50 waiting, the rest are refused");
    assert_eq!(queue_depth(&app.sqs, &app.res.queue_url).await.0, 40);
    // Everything accepted renders: nothing lost.
    let stop = app.spawn_worker();
    let until = Instant::now() + Duration::from_secs(180);
    for id in &accepted {
        loop {
            if job_json(&app, id).await["status"] == "succeeded" {
                break;
            }
            assert!(Instant::now() < until, "job {id} did not finish");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    drop(stop);
}
