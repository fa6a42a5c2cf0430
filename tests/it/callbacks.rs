//! Webhooks and API keys against a real LocalStack, a worker rendering with TeX, and a webhook
//! receiver of the tests' own on loopback (the only address these tests ever connect to):
//! retries that keep one webhook-id, signatures a receiver can check, a hanging receiver that
//! holds up no render, `batch.completed` once, the address check repeated at delivery; keys
//! stored as hashes and a quota exact under 50 concurrent submits.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use common::app::{App, Opts, app};
use common::aws::{LocalStack, list_keys, stored_jobs};
use reportq::domain::access::Scope;
use reportq::domain::webhook::{Secret, TOLERANCE_SECS, verify};
use reportq::webhook::ssrf::AllowList;
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_reportq");

/// What the receiver does with its n-th request (0-based).
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Holds the request open for this long.
    Hang(Duration),
}

#[derive(Clone)]
struct Hit {
    headers: HeaderMap,
    body: Vec<u8>,
}

struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    async fn start(answer: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Receiver {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let answer = Arc::new(answer);
        let h = hits.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (h, answer) = (h.clone(), answer.clone());
                async move {
                    let n = {
                        let mut hits = h.lock().unwrap();
                        hits.push(Hit { headers, body: body.to_vec() });
                        hits.len() - 1
                    };
                    match answer(n) {
                        Answer::Status(s) => axum::http::StatusCode::from_u16(s).unwrap(),
                        Answer::Hang(d) => {
                            tokio::time::sleep(d).await;
                            axum::http::StatusCode::OK
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, hits }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Hit> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.hits().len() >= n {
                return self.hits();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the receiver got {} requests, not {n}, within {limit:?}", self.hits().len());
    }
}

/// The pipeline with webhooks on: loopback allowed, one fresh secret, short back-off.
async fn webhook_app(ls: &LocalStack, secret: &str, worker_allow: &str, timeout: Duration) -> App {
    let (secret, worker_allow) = (Secret::parse(secret).unwrap(), AllowList::parse(worker_allow).unwrap());
    let tweak: common::app::Tweak = Box::new(move |api, worker| {
        api.webhooks.allow = AllowList::parse("127.0.0.1/32").unwrap();
        worker.webhooks.allow = worker_allow;
        worker.webhooks.secrets = vec![secret];
        worker.webhooks.backoff = vec![Duration::from_millis(300); 4];
        worker.webhooks.timeout = timeout;
    });
    app(&ls.endpoint, Opts { webhooks: true, tweak, ..Opts::new(EXE) }).await
}

fn summary(title: &str) -> Value {
    let mut v: Value = serde_json::from_slice(&common::example("summary.json")).unwrap();
    v["params"]["title"] = json!(title);
    v
}

async fn job(app: &App, id: &str) -> Value {
    app.get(&format!("/v1/reports/{id}")).await.json().await.unwrap()
}

async fn wait_job(app: &App, id: &str, done: impl Fn(&Value) -> bool, limit: Duration) -> Value {
    let end = Instant::now() + limit;
    loop {
        let j = job(app, id).await;
        if done(&j) {
            return j;
        }
        assert!(Instant::now() < end, "job {id} not there within {limit:?}: {j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn header<'a>(h: &'a Hit, name: &str) -> &'a str {
    h.headers.get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_receiver_gets_three_signed_attempts_with_one_webhook_id() {
    let ls = LocalStack::start();
    let secret = Secret::generate();
    let app = webhook_app(&ls, &secret, "127.0.0.1/32", Duration::from_secs(5)).await;
    let rx = Receiver::start(|n| Answer::Status(if n < 2 { 500 } else { 204 })).await;
    let _worker = app.spawn_worker();
    let _deliverer = app.spawn_deliverer();

    let mut req = summary("Called back");
    req["callback"] = json!({ "url": rx.url });
    let resp = app.post_json("/v1/reports", &req).await;
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_string();

    let hits = rx.wait_for(3, Duration::from_secs(120)).await;
    // No fourth attempt after the 2xx.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rx.hits().len(), 3);
    let secret = Secret::parse(&secret).unwrap();
    let webhook_id = format!("msg_{}", uuid::Uuid::parse_str(&id).unwrap().simple());
    for h in &hits {
        assert_eq!(header(h, "webhook-id"), webhook_id, "one id on every attempt");
        let ts: i64 = header(h, "webhook-timestamp").parse().unwrap();
        let now = reportq::domain::now_epoch();
        verify(&secret, &webhook_id, ts, header(h, "webhook-signature"), &h.body, Some(now), TOLERANCE_SECS).expect("signature verifies");
        // Tampering with the body breaks it.
        let mut tampered = h.body.clone();
        tampered.push(b' ');
        assert!(verify(&secret, &webhook_id, ts, header(h, "webhook-signature"), &tampered, None, TOLERANCE_SECS).is_err());
    }
    let event: Value = serde_json::from_slice(&hits[2].body).unwrap();
    assert_eq!(event["type"], "report.succeeded");
    assert_eq!(event["data"]["job_id"], id.as_str());
    // The event's URL downloads the PDF it describes.
    let pdf = reqwest::get(event["data"]["url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
    assert_eq!(event["data"]["sha256"].as_str().unwrap(), hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&pdf)));
    assert!(common::pdf_text(&pdf).contains("Called back"));

    // The job shows each attempt.
    let j = wait_job(&app, &id, |j| j["webhook"]["state"] == "delivered", Duration::from_secs(10)).await;
    let statuses: Vec<u64> = j["webhook"]["attempts"].as_array().unwrap().iter().map(|a| a["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [500, 500, 204]);
    assert_eq!(j["webhook"]["id"], webhook_id.as_str());
}

/// The webhook function's way (#25): the signing secret is read from Secrets Manager by its
/// ARN, never given in the environment, and events verify with it; a secret that cannot be read,
/// or holds no whsec_ value, stops the start instead of signing with nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_are_signed_with_the_secret_read_from_secrets_manager() {
    let ls = LocalStack::start();
    let sdk = common::aws::sdk_config(&ls.endpoint).await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let create = |name: String, value: String| {
        let sm = sm.clone();
        async move { sm.create_secret().name(name).secret_string(value).send().await.unwrap().arn().unwrap().to_string() }
    };
    let secret = Secret::generate();
    let arn = create(format!("hooks-{}", uuid::Uuid::new_v4()), secret.clone()).await;
    let a = arn.clone();
    let tweak: common::app::Tweak = Box::new(move |api, worker| {
        api.webhooks.allow = AllowList::parse("127.0.0.1/32").unwrap();
        worker.webhooks.allow = AllowList::parse("127.0.0.1/32").unwrap();
        worker.webhooks.secrets = Vec::new();
        worker.webhooks.secrets_arn = Some(a);
    });
    let app = app(&ls.endpoint, Opts { webhooks: true, tweak, ..Opts::new(EXE) }).await;
    let rx = Receiver::start(|_| Answer::Status(204)).await;
    let _worker = app.spawn_worker();
    let _deliverer = app.spawn_deliverer();
    let mut req = summary("Signed from Secrets Manager");
    req["callback"] = json!({ "url": rx.url });
    let resp = app.post_json("/v1/reports", &req).await;
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_string();
    let hit = rx.wait_for(1, Duration::from_secs(120)).await.remove(0);
    let webhook_id = format!("msg_{}", uuid::Uuid::parse_str(&id).unwrap().simple());
    let ts: i64 = header(&hit, "webhook-timestamp").parse().unwrap();
    let sig = header(&hit, "webhook-signature");
    verify(&Secret::parse(&secret).unwrap(), &webhook_id, ts, sig, &hit.body, None, TOLERANCE_SECS).expect("signed with the stored secret");
    let other = Secret::parse(&Secret::generate()).unwrap();
    assert!(verify(&other, &webhook_id, ts, sig, &hit.body, None, TOLERANCE_SECS).is_err());

    // What stops the start: a secret that is not there, or one with no whsec_ value in it.
    let services = reportq::startup::Services::build(&app.res.bucket, &sdk);
    let missing = arn.replace("hooks-", "gone-");
    let not_whsec = create(format!("text-{}", uuid::Uuid::new_v4()), "hunter2!".into()).await;
    for bad in [missing, not_whsec] {
        let mut w = app.worker_cfg.webhooks.clone();
        w.secrets_arn = Some(bad.clone());
        match services.signing_secrets(&w).await {
            Err(reportq::config::ConfigError::Invalid { name, value, .. }) => {
                assert_eq!((name, value.as_str()), ("REPORTQ_WEBHOOK_SECRETS_ARN", bad.as_str()))
            }
            other => panic!("{bad}: {:?}", other.map(|s| s.is_some())),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_receiver_holds_up_no_render() {
    let ls = LocalStack::start();
    // Deliveries wait up to 60 s for an answer; the receiver never gives one in time.
    let app = webhook_app(&ls, &Secret::generate(), "127.0.0.1/32", Duration::from_secs(60)).await;
    let rx = Receiver::start(|_| Answer::Hang(Duration::from_secs(600))).await;
    let _worker = app.spawn_worker();
    let _deliverer = app.spawn_deliverer();
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut req = summary(&format!("Hanging {i}"));
        req["callback"] = json!({ "url": rx.url });
        let r = app.post_json("/v1/reports", &req).await;
        assert_eq!(r.status(), 202);
        ids.push(r.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_string());
    }
    // Every job is rendered while its delivery is still held open by the receiver: the
    // first delivery reaches the receiver, and no attempt has finished.
    for id in &ids {
        wait_job(&app, id, |j| j["status"] == "succeeded", Duration::from_secs(90)).await;
    }
    rx.wait_for(1, Duration::from_secs(30)).await;
    for id in &ids {
        let j = job(&app, id).await;
        assert_eq!(j["status"], "succeeded");
        assert_eq!(j["webhook"]["state"], "pending", "{j}");
        assert!(j["webhook"]["attempts"].as_array().unwrap().is_empty(), "an attempt ended: {j}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_calls_back_once_when_its_last_job_ends() {
    let ls = LocalStack::start();
    let app = webhook_app(&ls, &Secret::generate(), "127.0.0.1/32", Duration::from_secs(5)).await;
    let rx = Receiver::start(|_| Answer::Status(200)).await;
    let _worker = app.spawn_worker();
    let _deliverer = app.spawn_deliverer();
    let mut own = summary("Own callback");
    own["callback"] = json!({ "url": format!("{}?item=1", rx.url) });
    let body = json!({ "requests": [summary("One"), own, summary("Three")], "callback": { "url": rx.url } });
    let r = app.post_json("/v1/reports/batch", &body).await;
    assert_eq!(r.status(), 202);
    let batch = r.json::<Value>().await.unwrap()["batch_id"].as_str().unwrap().to_string();
    let hits = rx.wait_for(2, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let hits = if rx.hits().len() > hits.len() { rx.hits() } else { hits };
    let events: Vec<Value> = hits.iter().map(|h| serde_json::from_slice(&h.body).unwrap()).collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.iter().filter(|t| **t == "batch.completed").count(), 1, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "report.succeeded").count(), 1, "only the item with its own callback: {types:?}");
    let done = events.iter().find(|e| e["type"] == "batch.completed").unwrap();
    assert_eq!(
        (done["data"]["batch_id"].as_str(), done["data"]["total"].as_u64(), done["data"]["succeeded"].as_u64()),
        (Some(batch.as_str()), Some(3), Some(3))
    );
    let view: Value = app.get(&format!("/v1/batches/{batch}")).await.json().await.unwrap();
    assert_eq!(view["done"], true);
    assert_eq!(view["webhook"]["event"], "batch.completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_address_is_checked_again_at_delivery() {
    let ls = LocalStack::start();
    // The API lets loopback through (as at submit time a name may have resolved elsewhere);
    // the deliverer does not: it refuses, records why, and never connects.
    let app = webhook_app(&ls, &Secret::generate(), "", Duration::from_secs(5)).await;
    let rx = Receiver::start(|_| Answer::Status(200)).await;
    let _worker = app.spawn_worker();
    let _deliverer = app.spawn_deliverer();
    let mut req = summary("Rebound");
    req["callback"] = json!({ "url": rx.url });
    let r = app.post_json("/v1/reports", &req).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_string();
    let j = wait_job(&app, &id, |j| j["webhook"]["state"] == "failed", Duration::from_secs(90)).await;
    let attempts = j["webhook"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "a refused address is not retried: {j}");
    assert!(attempts[0]["error"].as_str().unwrap().contains("loopback"), "{j}");
    assert_eq!(j["status"], "succeeded", "the report itself is unaffected");
    assert!(rx.hits().is_empty(), "the deliverer connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_are_stored_as_hashes_and_a_quota_is_exact_under_50_concurrent_submits() {
    let ls = LocalStack::start();
    let tweak: common::app::Tweak = Box::new(|api, _| api.auth = reportq::access::AuthMode::Keys);
    let app = app(&ls.endpoint, Opts { tweak, ..Opts::new(EXE) }).await;
    let access =
        reportq::access::Access::new(reportq::access::AuthMode::Keys, Arc::new(reportq::store::S3Store::new(app.s3.clone(), app.res.bucket.clone())));
    let (key, rec) = access.create_key("bulk", vec![Scope::Submit, Scope::Read], Some(30), 0).await.unwrap();
    let (other, _) = access.create_key("other", vec![Scope::Read], None, 0).await.unwrap();

    let post = |k: Option<String>, n: usize| {
        let (http, url) = (app.http.clone(), app.url("/v1/reports"));
        async move {
            let mut r = http.post(url).json(&summary(&format!("Quota {n}")));
            if let Some(k) = k {
                r = r.bearer_auth(k);
            }
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    // Refusals over real HTTP: no key, and a wrong one.
    assert_eq!(post(None, 0).await.0, 401);
    let last = if key.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &key[..key.len() - 1]);
    assert_eq!(post(Some(wrong), 0).await.0, 401);

    let results = futures::future::join_all((0..50).map(|n| post(Some(key.clone()), n))).await;
    let accepted: Vec<&Value> = results.iter().filter(|(s, _)| *s == 202).map(|(_, b)| b).collect();
    let refused = results.iter().filter(|(s, b)| *s == 429 && b["error"]["code"] == "quota_exceeded").count();
    assert_eq!((accepted.len(), refused), (30, 20), "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    assert_eq!(access.used_today(&rec.id, reportq::domain::now_epoch()).await.unwrap(), 30);
    let jobs = stored_jobs(&app.s3, &app.res.bucket).await;
    assert_eq!(jobs, 30, "one job per accepted submit");

    // Another key cannot see these jobs.
    let id = accepted[0]["job_id"].as_str().unwrap();
    let r = app.http.get(app.url(&format!("/v1/reports/{id}"))).bearer_auth(&other).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = app.http.get(app.url(&format!("/v1/reports/{id}"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // What the bucket holds of a key is its hash, never the key.
    let secret_part = &key[16..];
    for k in list_keys(&app.s3, &app.res.bucket).await {
        let obj = app.s3.get_object().bucket(&app.res.bucket).key(&k).send().await.unwrap();
        let bytes = obj.body.collect().await.unwrap().into_bytes();
        assert!(!String::from_utf8_lossy(&bytes).contains(secret_part), "{k} holds the key");
    }
    let stored = access.list_keys().await.unwrap();
    assert!(stored.iter().any(|k| k.hash == reportq::domain::access::hash(&key)));
}

/// `reportq keys` as an operator runs it, against the bucket the API reads: the key is printed
/// once, listed by id and name (never the key), and once revoked the API refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reportq_keys_makes_lists_and_revokes_keys_the_api_honours() {
    let ls = LocalStack::start();
    let tweak: common::app::Tweak = Box::new(|api, _| api.auth = reportq::access::AuthMode::Keys);
    let app = app(&ls.endpoint, Opts { tweak, ..Opts::new(EXE) }).await;
    let cli = |args: &[&str]| {
        std::process::Command::new(EXE)
            .args(args)
            .env("AWS_ENDPOINT_URL", &ls.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("REPORTQ_BUCKET", &app.res.bucket)
            .env("REPORTQ_QUEUE_URL", &app.res.queue_url)
            .env("REPORTQ_AUTH", "keys")
            .output()
            .unwrap()
    };
    let made = cli(&["keys", "create", "--name", "nightly-export", "--scopes", "submit,read", "--quota", "100"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let key = String::from_utf8(made.stdout).unwrap().trim().to_string();
    let id = reportq::domain::access::key_id(&key).expect("a key's shape").to_string();
    assert!(String::from_utf8_lossy(&made.stderr).contains("shown this once"));
    assert!(String::from_utf8_lossy(&made.stderr).contains("webhook signing secret"), "{}", String::from_utf8_lossy(&made.stderr));
    let rotated = cli(&["keys", "rotate-webhook-secret", &id]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    assert!(String::from_utf8_lossy(&rotated.stdout).trim().starts_with("whsec_"));
    assert!(!cli(&["keys", "rotate-webhook-secret", "000000000000"]).status.success());
    let r = app.http.post(app.url("/v1/reports")).bearer_auth(&key).json(&summary("By CLI key")).send().await.unwrap();
    assert_eq!(r.status(), 202);

    let listed = cli(&["keys", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains(&id) && text.contains("nightly-export") && text.contains("1/100"), "{text}");
    assert!(!text.contains(&key[16..]), "the list shows the key");
    let bad = cli(&["keys", "create", "--name", "x", "--scopes", "write"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("\"write\" is not a scope"));

    assert!(cli(&["keys", "revoke", &id]).status.success());
    let json: Value = serde_json::from_slice(&cli(&["keys", "list", "--json"]).stdout).unwrap();
    assert!(json[0]["revoked_at"].is_string(), "{json}");
    assert!(!cli(&["keys", "revoke", "000000000000"]).status.success());
    // The API instance cached the key for up to 30 s; a fresh one (as after the cache) refuses it.
    let fresh =
        reportq::access::Access::new(reportq::access::AuthMode::Keys, Arc::new(reportq::store::S3Store::new(app.s3.clone(), app.res.bucket.clone())));
    let e = fresh.authenticate(Some(&format!("Bearer {key}")), None, Scope::Submit).await.unwrap_err();
    assert!(matches!(e, reportq::access::AccessError::Revoked), "{e}");
}

/// Each key signs its own callers' events (found in review: one deployment secret signed
/// everyone's, so any key holder could send a correctly signed event for a PDF it made to
/// someone else's receiver). The event names its owner; a rotation signs with both secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_key_signs_its_own_callers_events_and_rotates() {
    let ls = LocalStack::start();
    let deployment = Secret::generate();
    let (dep, allow) = (Secret::parse(&deployment).unwrap(), AllowList::parse("127.0.0.1/32").unwrap());
    let tweak: common::app::Tweak = Box::new(move |api, worker| {
        api.auth = reportq::access::AuthMode::Keys;
        api.webhooks.allow = allow.clone();
        worker.webhooks.allow = allow;
        worker.webhooks.secrets = vec![dep];
    });
    let app = app(&ls.endpoint, Opts { webhooks: true, tweak, ..Opts::new(EXE) }).await;
    let access =
        reportq::access::Access::new(reportq::access::AuthMode::Keys, Arc::new(reportq::store::S3Store::new(app.s3.clone(), app.res.bucket.clone())));
    let (alice, a) = access.create_key("alice", vec![Scope::Submit, Scope::Read], None, 0).await.unwrap();
    let (_, b) = access.create_key("bob", vec![Scope::Submit, Scope::Read], None, 0).await.unwrap();
    assert_ne!(a.webhook_secrets, b.webhook_secrets);
    let rx = Receiver::start(|_| Answer::Status(204)).await;
    let _worker = app.spawn_worker();
    let _deliverer = app.spawn_deliverer();
    let submit = |title: &'static str| {
        let mut req = summary(title);
        req["callback"] = json!({ "url": rx.url });
        app.http.post(app.url("/v1/reports")).bearer_auth(&alice).json(&req).send()
    };
    let check = |h: &Hit, good: &[&str], bad: &[&str]| {
        let (id, ts) = (header(h, "webhook-id"), header(h, "webhook-timestamp").parse::<i64>().unwrap());
        for s in good {
            verify(&Secret::parse(s).unwrap(), id, ts, header(h, "webhook-signature"), &h.body, None, TOLERANCE_SECS)
                .expect("signed with the key's secret");
        }
        for s in bad {
            assert!(
                verify(&Secret::parse(s).unwrap(), id, ts, header(h, "webhook-signature"), &h.body, None, TOLERANCE_SECS).is_err(),
                "signed with a secret not the key's"
            );
        }
    };
    assert_eq!(submit("Alice's").await.unwrap().status(), 202);
    let hits = rx.wait_for(1, Duration::from_secs(120)).await;
    check(&hits[0], &[&a.webhook_secrets[0]], &[&deployment, &b.webhook_secrets[0]]);
    let event: Value = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(event["owner"], format!("key:{}", a.id));

    // Rotated: the next event carries a signature by the new secret and one by the old.
    let (fresh, rotated) = access.rotate_webhook_secret(&a.id).await.unwrap().unwrap();
    assert_eq!(rotated.webhook_secrets, vec![fresh.clone(), a.webhook_secrets[0].clone()]);
    assert_eq!(submit("Alice's second").await.unwrap().status(), 202);
    let hits = rx.wait_for(2, Duration::from_secs(120)).await;
    check(&hits[1], &[&fresh, &a.webhook_secrets[0]], &[&deployment, &b.webhook_secrets[0]]);
}
