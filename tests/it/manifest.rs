//! Bulk runs from a manifest, on LocalStack: the presigned upload, the API's checks, the
//! worker-side fan-out (through the worker's own message handling, and killed mid-run), the
//! invalid lines' `errors.jsonl`, and the batch's counts.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::app::{App, Opts, app};
use common::aws::{LocalStack, stored_jobs};
use reportq::domain::job::item_id;
use reportq::fanout::{Fanout, FanoutOutcome};
use reportq::worker::Outcome;
use serde_json::{Value, json};
use uuid::Uuid;

const EXE: &str = env!("CARGO_BIN_EXE_reportq");

fn small(org: &str) -> Value {
    let mut v: Value = serde_json::from_slice(&std::fs::read(common::root().join("tests/fixtures/diagram-small.json")).unwrap()).unwrap();
    v["params"]["organisation"] = json!(org);
    v
}

/// Makes a manifest batch for `lines` lines and uploads `body` to its presigned URL.
async fn upload(app: &App, lines: usize, body: Vec<u8>) -> (Uuid, Value) {
    let r = app.post_json("/v1/batches", &json!({ "manifest": { "lines": lines } })).await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let created: Value = r.json().await.unwrap();
    let id: Uuid = created["batch_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(location, format!("/v1/batches/{id}"));
    assert_eq!(created["upload"]["method"], "PUT");
    let put = reqwest::Client::new().put(created["upload"]["url"].as_str().unwrap()).body(body).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    (id, created)
}

fn jsonl(lines: &[String]) -> Vec<u8> {
    lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manifest_is_uploaded_fanned_out_by_the_worker_and_rendered_with_its_bad_lines_in_errors_jsonl() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts::new(EXE)).await;
    // Refused shapes name their field and make nothing.
    for (body, field) in [
        (json!({ "manifest": { "lines": 0 } }), "manifest.lines"),
        (json!({ "manifest": { "lines": 100_001 } }), "manifest.lines"),
        (json!({ "manifest": { "lines": 5, "size": 1 } }), "manifest.size"),
        (json!({ "manifest": { "lines": 5 }, "requests": [] }), "requests"),
        (json!({ "lines": 5 }), "manifest"),
    ] {
        let r = app.post_json("/v1/batches", &body).await;
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["field"], field, "{body}");
    }
    // Started before its upload: 409, and no message.
    let r = app.post_json("/v1/batches", &json!({ "manifest": { "lines": 6 } })).await;
    let early: Value = r.json().await.unwrap();
    let r = app.post_json(&format!("/v1/batches/{}/start", early["batch_id"].as_str().unwrap()), &json!({})).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "manifest_not_uploaded");
    assert_eq!(common::aws::queue_depth(&app.sqs, &app.res.queue_url).await, (0, 0));

    let mut bad = small("Line Two");
    bad["params"]["models"][0]["intellectual_control"] = json!("lots");
    let mut hooked = small("Line Five");
    hooked["callback"] = json!({ "url": "https://example.org/hook" });
    let lines = vec![
        small("Manifest Line One").to_string(),
        bad.to_string(),
        small("Manifest Line Three").to_string(),
        "{ not json".to_string(),
        hooked.to_string(),
        small("Manifest Line Six").to_string(),
    ];
    let (id, _) = upload(&app, 6, jsonl(&lines)).await;
    let view: Value = app.get(&format!("/v1/batches/{id}")).await.json().await.unwrap();
    assert_eq!(view["manifest"]["state"], "awaiting_upload");
    assert_eq!(view["done"], false);
    let r = app.post_json(&format!("/v1/batches/{id}/start"), &json!({})).await;
    assert_eq!(r.status(), 202);

    // The worker handles the fan-out message as it handles jobs, then renders the jobs.
    let end = Instant::now() + Duration::from_secs(180);
    let mut outcomes = Vec::new();
    while outcomes.iter().filter(|o| matches!(o, Outcome::Rendered { .. })).count() < 3 {
        assert!(Instant::now() < end, "not rendered: {outcomes:?}");
        for r in app.worker.poll_once(&app.queue, Duration::from_secs(1)).await.unwrap() {
            outcomes.push(r.result.expect("every message handled"));
        }
    }
    assert!(outcomes.iter().any(|o| matches!(o, Outcome::Batch { batch_id, state: "FanoutDone" } if *batch_id == id)), "{outcomes:?}");

    let view: Value = app.get(&format!("/v1/batches/{id}")).await.json().await.unwrap();
    assert_eq!(view["done"], true, "{view}");
    assert_eq!(view["total"], 3);
    assert_eq!(view["counts"]["succeeded"], 3, "{view}");
    let m = &view["manifest"];
    assert_eq!(
        (m["state"].as_str(), m["lines_read"].as_u64(), m["validated"].as_u64(), m["invalid"].as_u64()),
        (Some("done"), Some(6), Some(3), Some(3))
    );
    // The jobs are the valid lines, in line order.
    let jobs: Vec<Uuid> = view["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].as_str().unwrap().parse().unwrap()).collect();
    assert_eq!(jobs, vec![item_id(id, 0), item_id(id, 2), item_id(id, 5)]);
    for (job, org) in jobs.iter().zip(["Manifest Line One", "Manifest Line Three", "Manifest Line Six"]) {
        let r = app.get(&format!("/v1/reports/{job}/pdf")).await;
        let pdf = app.http.get(r.headers()["location"].to_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
        assert!(common::squash(&common::pdf_text(&pdf)).contains(&common::squash(org)));
    }
    // errors.jsonl: each bad line, its number and field.
    let errors = reqwest::get(m["errors_url"].as_str().unwrap()).await.unwrap().text().await.unwrap();
    let errors: Vec<Value> = errors.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let got: Vec<(u64, &str)> = errors.iter().map(|e| (e["line"].as_u64().unwrap(), e["field"].as_str().unwrap())).collect();
    assert_eq!(got[1], (4, "line"));
    assert_eq!(got[2], (5, "callback"));
    assert_eq!(got[0].0, 2);
    assert!(got[0].1.contains("intellectual_control"), "{errors:?}");

    // One download for all of it: not asked yet, then asked (twice: one build), built by the
    // worker, read back by another ZIP reader (Python's zipfile).
    let archive = format!("/v1/batches/{id}/archive");
    assert_eq!(app.get(&archive).await.status(), 404);
    for _ in 0..2 {
        let r = app.post_json(&archive, &json!({})).await;
        assert_eq!(r.status(), 202);
        assert_eq!(r.json::<Value>().await.unwrap()["state"], "building");
    }
    assert_eq!(common::aws::queue_depth(&app.sqs, &app.res.queue_url).await.0, 1, "one build message for two requests");
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let done = app.worker.poll_once(&app.queue, Duration::from_secs(1)).await.unwrap();
        if done.iter().any(|r| matches!(r.result, Ok(Outcome::Batch { state: "ArchiveBuilt", .. }))) {
            break;
        }
        assert!(Instant::now() < end, "no archive built");
    }
    let a: Value = app.get(&archive).await.json().await.unwrap();
    assert_eq!(
        (a["state"].as_str(), a["partial"].as_bool(), a["reports"].as_u64(), a["rows"].as_u64()),
        (Some("ready"), Some(false), Some(3), Some(6)),
        "{a}"
    );
    let zip = reqwest::get(a["url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
    assert_eq!(zip.len() as u64, a["size"].as_u64().unwrap());
    assert_eq!(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&zip)), a["sha256"].as_str().unwrap());
    let entries = common::read_zip(&zip);
    let csv = String::from_utf8(entries["manifest.csv"].clone()).unwrap();
    let rows: Vec<Vec<String>> = csv.lines().skip(1).map(|l| l.splitn(6, ',').map(str::to_string).collect()).collect();
    assert_eq!(csv.lines().next(), Some("line,job_id,file,sha256,status,error"));
    let statuses: Vec<&str> = rows.iter().map(|r| r[4].as_str()).collect();
    assert_eq!(statuses, ["succeeded", "invalid", "succeeded", "invalid", "invalid", "succeeded"], "{csv}");
    assert!(rows[1][5].contains("intellectual_control"), "{csv}");
    for (row, (job, org)) in
        [&rows[0], &rows[2], &rows[5]].into_iter().zip(jobs.iter().zip(["Manifest Line One", "Manifest Line Three", "Manifest Line Six"]))
    {
        assert_eq!(row[1], job.to_string());
        let pdf = &entries[&row[2]];
        // The sha256 column is the entry's, which is the job's report.
        assert_eq!(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(pdf)), row[3]);
        let j: Value = app.get(&format!("/v1/reports/{job}")).await.json().await.unwrap();
        assert_eq!(j["result"]["sha256"], row[3]);
        assert!(common::squash(&common::pdf_text(pdf)).contains(&common::squash(org)));
    }
    assert_eq!(entries.len(), 4, "three PDFs and manifest.csv: {:?}", entries.keys().collect::<Vec<_>>());
    // Asked again once complete: answered at once, nothing rebuilt.
    let r = app.post_json(&archive, &json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["sha256"], a["sha256"]);
    assert_eq!(common::aws::queue_depth(&app.sqs, &app.res.queue_url).await.0, 0);
}

/// The fan-out, killed twice at arbitrary points (its future dropped mid-write, as a process
/// dies), resumed by other processes once the lease expires: every valid line is one job,
/// none lost, none made twice; a killed chunk's messages may go twice (dropped at the claim).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fan_out_killed_twice_still_makes_each_job_exactly_once() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts::new(EXE)).await;
    let n = 3_000usize;
    let bad: HashSet<usize> = [17, 999, 1_000, 2_999].into_iter().collect();
    let lines: Vec<String> =
        (0..n).map(|i| if bad.contains(&i) { format!("{{\"line\": {i}") } else { small(&format!("Archive {i}")).to_string() }).collect();
    let (id, _) = upload(&app, n, jsonl(&lines)).await;
    let fanout = |me: &str| Fanout {
        store: app.jobs.clone(),
        queue: Arc::new(app.queue.clone()),
        scorer: None,
        me: me.to_string(),
        max_backlog: 1_000_000,
        notifier: None,
        lease: Duration::from_secs(1),
    };
    // Two deaths part-way (the first chunk takes some hundreds of milliseconds on LocalStack).
    // The second is cut at a quarter of the time the first's pace gives the rest: a LocalStack
    // already warm ran the second half of a 600 ms first run in under 500 ms.
    let mut after = 600u64;
    for me in ["first", "second"] {
        loop {
            match tokio::time::timeout(Duration::from_millis(after), fanout(me).run(id, Duration::from_secs(600))).await {
                Err(_) => break,
                // The one before still holds its lease (1 s after its last write).
                Ok(Ok(FanoutOutcome::Busy)) => tokio::time::sleep(Duration::from_millis(200)).await,
                // A connection the killed run left half-read: SQS would deliver the message again.
                Ok(Err(e)) => println!("{me}: {e}; again"),
                other => panic!("{me} should have been cut off part-way: {other:?}"),
            }
        }
        let records = reportq::store::FanoutRecords(app.jobs.as_ref());
        // The killed run can leave pooled connections half-used: a read may fail a few times.
        let mut tries = 0;
        let c = loop {
            match records.cursor(id).await {
                Ok(c) => break c,
                Err(e) if tries < 10 => {
                    tries += 1;
                    println!("reading the cursor: {e}; again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("the cursor cannot be read: {e}"),
            }
        };
        let c = c.unwrap().0;
        println!("{me} killed at line {}", c.next_line);
        assert!((c.next_line as usize) < n, "killed before the end");
        let done = c.next_line as u64;
        after = (600 * (n as u64 - done)).checked_div(done * 4).map_or(500, |ms| ms.clamp(50, 500));
    }
    let end = Instant::now() + Duration::from_secs(300);
    let cursor = loop {
        match fanout("third").run(id, Duration::from_secs(600)).await {
            Ok(FanoutOutcome::Done(c)) => break c,
            // The second's lease has not expired yet.
            Ok(FanoutOutcome::Busy) => tokio::time::sleep(Duration::from_millis(300)).await,
            Ok(FanoutOutcome::Paused(c, _)) => panic!("paused at {c:?}"),
            Err(e) => println!("third: {e}; again"),
        }
        assert!(Instant::now() < end);
    };
    assert_eq!((cursor.next_line as usize, cursor.valid as usize, cursor.invalid as usize), (n, n - bad.len(), bad.len()));

    // Every message on the bulk queue, drained.
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    let mut empty = 0;
    while empty < 3 {
        let got = app.queue.receive(10, Duration::from_millis(500)).await.unwrap();
        empty = if got.is_empty() { empty + 1 } else { 0 };
        let receipts: Vec<String> = got.iter().filter_map(|m| m.receipt_handle.clone()).collect();
        for m in &got {
            let job: Value = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
            *seen.entry(job["job_id"].as_str().unwrap().parse().unwrap()).or_default() += 1;
        }
        app.queue.delete(&receipts).await.unwrap();
    }
    let want: HashSet<Uuid> = (0..n).filter(|i| !bad.contains(i)).map(|i| item_id(id, i as u32)).collect();
    let got: HashSet<Uuid> = seen.keys().copied().collect();
    assert_eq!(got, want, "every valid line's job was sent, and no other");
    let twice = seen.values().filter(|c| **c > 1).count();
    println!("{} jobs; messages sent twice: {twice} (a killed chunk's)", want.len());
    assert!(twice <= 200, "at most the two killed chunks' messages go twice: {twice}");
    assert_eq!(stored_jobs(&app.s3, &app.res.bucket).await, want.len(), "exactly one job per valid line");
    // The batch reads the same through the API.
    let view: Value = app.get(&format!("/v1/batches/{id}?limit=1000&cursor=900")).await.json().await.unwrap();
    assert_eq!(view["total"], n - bad.len());
    assert_eq!(view["counts"]["queued"], n - bad.len());
    assert_eq!(view["manifest"]["invalid"], bad.len());
    assert_eq!(view["jobs"].as_array().unwrap().len(), 1_000 - 2, "lines 900..1900 less lines 999 and 1000");
    assert_eq!(view["next_cursor"], "1900");
    let errors = reqwest::get(view["manifest"]["errors_url"].as_str().unwrap()).await.unwrap().text().await.unwrap();
    let lines: Vec<u64> = errors.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![18, 1_000, 1_001, 3_000]);

    // An archive asked for now is partial: no report has rendered, every row says why.
    let built = reportq::archive::build(app.jobs.as_ref(), reportq::archive::ArchiveMessage { archive: id, requested_at: 1 }, None).await.unwrap();
    let reportq::archive::BuildOutcome::Built(a) = built else { panic!("{built:?}") };
    assert_eq!((a.partial, a.reports, a.rows as usize), (true, 0, n));
    let zip = app.s3.get_object().bucket(&app.res.bucket).key(format!("batches/{id}.zip")).send().await.unwrap();
    let zip = zip.body.collect().await.unwrap().into_bytes();
    let csv = String::from_utf8(common::read_zip(&zip)["manifest.csv"].clone()).unwrap();
    let invalid: Vec<&str> = csv.lines().filter(|l| l.contains(",invalid,")).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(invalid, ["18", "1000", "1001", "3000"]);
    assert_eq!(csv.lines().filter(|l| l.contains(",queued,")).count(), n - bad.len());
}

/// A manifest's progress settles the chunks whose jobs are all final (their counts kept in one
/// record), so that a poll, or a job's end asking whether the batch is done, lists only the
/// markers after them; the counts stay what a full listing gives.
#[tokio::test]
async fn finished_chunks_settle_and_later_polls_list_only_the_rest() {
    use reportq::batch::progress;
    use reportq::domain::job::{Batch, Status, item_of};
    use reportq::domain::manifest::{Manifest, Settled};
    use reportq::store::{FanoutRecords, JobStore, MemoryStore};
    use reportq::wire::Counts;

    let store = Arc::new(MemoryStore::new());
    let id = Uuid::new_v4();
    let batch = Batch { id, created_at_epoch: 1, job_ids: Vec::new(), manifest: Some(Manifest { lines: 250 }), owner: None, callback: None };
    assert!(store.create_batch(&batch).await.unwrap());
    let summary = std::fs::read_to_string(common::root().join("examples/summary.json")).unwrap();
    let summary: Value = serde_json::from_str(&summary).unwrap();
    let lines: Vec<String> = (0..250).map(|i| if i == 119 { "{\"template\": 1}".to_string() } else { summary.to_string() }).collect();
    store.put_manifest(id, jsonl(&lines)).await.unwrap();
    let fanout = Fanout {
        store: store.clone(),
        queue: Arc::new(reportq::queue::MemoryQueue::new()),
        scorer: None,
        me: "test".into(),
        max_backlog: u64::MAX,
        notifier: None,
        lease: Duration::from_secs(60),
    };
    assert!(matches!(fanout.run(id, Duration::from_secs(600)).await.unwrap(), FanoutOutcome::Done(_)));
    let mark = |n: u32, s: Status| {
        let store = store.clone();
        async move { store.mark(id, item_id(id, n), s).await.unwrap() }
    };
    // Chunk 0 all succeeded; chunk 1 final but for line 151 (running), line 111 failed, line
    // 120 invalid; chunk 2 not started.
    for n in 0..100 {
        mark(n, Status::Running).await;
        mark(n, Status::Succeeded).await;
    }
    for n in (100..200).filter(|n| *n != 119) {
        mark(n, Status::Running).await;
        match n {
            110 => mark(n, Status::Failed).await,
            150 => {}
            _ => mark(n, Status::Succeeded).await,
        }
    }
    let p = progress(store.as_ref(), &batch).await.unwrap();
    assert_eq!(p.counts, Counts { queued: 50, running: 1, succeeded: 197, failed: 1 });
    assert!(!p.done);
    let settled = || async { FanoutRecords(store.as_ref()).settled(id).await.unwrap().map(|(s, _)| s) };
    assert_eq!(settled().await, Some(Settled { chunks: 1, succeeded: 100, failed: 0 }));
    // The next poll reads none of chunk 0's markers, and counts the same.
    let again = progress(store.as_ref(), &batch).await.unwrap();
    assert_eq!(again.counts, p.counts);
    assert!(again.moved.keys().all(|j| item_of(*j).unwrap().1 >= 100), "settled markers listed again");
    assert_eq!(again.moved.len(), 99);

    mark(150, Status::Succeeded).await;
    for n in 200..250 {
        mark(n, Status::Running).await;
        mark(n, Status::Succeeded).await;
    }
    let end = progress(store.as_ref(), &batch).await.unwrap();
    assert_eq!(end.counts, Counts { queued: 0, running: 0, succeeded: 248, failed: 1 });
    assert!(end.done);
    assert_eq!(settled().await, Some(Settled { chunks: 3, succeeded: 248, failed: 1 }));
    // Once settled, a poll lists nothing and says the same.
    let after = progress(store.as_ref(), &batch).await.unwrap();
    assert!(after.moved.is_empty());
    assert_eq!((after.counts, after.done, after.total), (end.counts, true, 249));
}

/// An archive too large for one invocation: built a row per call (a zero budget), each call
/// saving where it stopped and the next taking it up, it has exactly the bytes of the same
/// archive built in one go, across several multipart parts.
#[tokio::test]
async fn an_archive_built_over_many_invocations_has_the_bytes_of_one_built_at_once() {
    use reportq::archive::{ArchiveMessage, BuildOutcome, build};
    use reportq::domain::job::{Batch, Job, Status};
    use reportq::store::{JobStore, MemoryStore, Objects};

    let store = Arc::new(MemoryStore::new());
    let id = Uuid::new_v4();
    let ids: Vec<Uuid> = (0..24).map(|_| Uuid::new_v4()).collect();
    let batch = Batch { id, created_at_epoch: 1_795_441_530, job_ids: ids.clone(), manifest: None, owner: None, callback: None };
    assert!(store.create_batch(&batch).await.unwrap());
    for (i, job) in ids.iter().enumerate() {
        let j = Job::new(*job, Some(id), "summary", json!({ "template": "summary" }), batch.created_at_epoch);
        assert!(store.create_job(&j).await.unwrap());
        if i % 5 == 4 {
            continue; // still queued
        }
        // 1.5 MiB each, different bytes: the build crosses several 8 MiB parts.
        let pdf: Vec<u8> = (0..(3 << 19)).map(|k: usize| (k * 31 + i * 7) as u8).collect();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&pdf));
        let out = store.create_report(*job, pdf, &sha).await.unwrap().unwrap();
        let (rec, v) = store.job(*job).await.unwrap().unwrap();
        store.replace_job(&Job { status: Status::Succeeded, output: Some(out), ..rec }, &v).await.unwrap();
        store.mark(id, *job, Status::Succeeded).await.unwrap();
    }
    let zip = || async { store.get_object(&format!("batches/{id}.zip")).await.unwrap().unwrap().0 };

    let mut calls = 0;
    let resumed = loop {
        calls += 1;
        match build(store.as_ref(), ArchiveMessage { archive: id, requested_at: 1 }, Some(Duration::ZERO)).await.unwrap() {
            BuildOutcome::Continue => continue,
            BuildOutcome::Built(a) => break a,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(calls, 24, "one row a call");
    assert_eq!((resumed.reports, resumed.rows, resumed.partial), (20, 24, true));
    assert_eq!(resumed.sha256, None, "no whole-file hash across invocations");
    let in_parts = zip().await;

    let BuildOutcome::Built(at_once) = build(store.as_ref(), ArchiveMessage { archive: id, requested_at: 2 }, None).await.unwrap() else {
        panic!("not built")
    };
    let whole = zip().await;
    assert_eq!(in_parts.len() as u64, resumed.size);
    assert!(whole.len() > 3 * (8 << 20), "several parts: {}", whole.len());
    assert!(in_parts == whole, "the resumed build's bytes differ from the one-go build's");
    assert_eq!(at_once.sha256.as_deref(), Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&whole)).as_str()));
    let entries = common::read_zip(&whole);
    assert_eq!(entries.len(), 21, "20 PDFs and manifest.csv");
    let csv = String::from_utf8(entries["manifest.csv"].clone()).unwrap();
    assert_eq!(csv.lines().filter(|l| l.ends_with(",queued,")).count(), 4, "{csv}");
}
