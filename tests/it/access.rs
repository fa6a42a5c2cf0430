//! Access and callbacks at the router, on the in-memory store (the LocalStack versions, with a
//! worker and a real receiver, are in `callbacks`): each way a key can be refused, with its
//! status and body; jobs only their own key can see; quotas; the open routes; per-caller
//! Idempotency-Keys; callback URLs refused at submit; the OpenAPI security and callbacks.

use crate::common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use reportq::access::{Access, AuthMode};
use reportq::api::{ApiState, router};
use reportq::config::ApiSettings;
use reportq::domain::access::Scope;
use reportq::queue::MemoryQueue;
use reportq::store::MemoryStore;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Env {
    state: Arc<ApiState>,
    /// The same bucket, as `reportq keys` sees it.
    keys: Access,
}

fn env(auth: AuthMode, tweak: impl FnOnce(&mut ApiSettings)) -> Env {
    let mut cfg = ApiSettings::new("memory", "memory");
    cfg.auth = auth;
    cfg.diagram_model = Some(common::root().join("tests/fixtures/diagram-like.bif"));
    tweak(&mut cfg);
    let store = Arc::new(MemoryStore::new());
    let keys = Access::new(AuthMode::Keys, store.clone());
    Env { state: Arc::new(ApiState::new(cfg, store, Arc::new(MemoryQueue::new()))), keys }
}

async fn call(
    s: &Arc<ApiState>,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
    idem: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    if let Some(i) = idem {
        req = req.header("idempotency-key", i);
    }
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = router(s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn summary() -> Value {
    serde_json::from_slice(&common::example("summary.json")).unwrap()
}

#[tokio::test]
async fn every_way_a_key_is_refused_has_its_status_and_body() {
    let e = env(AuthMode::Keys, |_| {});
    let s = &e.state;
    let (alice, _) = e.keys.create_key("alice", vec![Scope::Submit, Scope::Read], None, 0).await.unwrap();
    let (reader, _) = e.keys.create_key("reader", vec![Scope::Read], None, 0).await.unwrap();
    let (gone, gone_rec) = e.keys.create_key("gone", vec![Scope::Submit], None, 0).await.unwrap();
    e.keys.revoke_key(&gone_rec.id, 1).await.unwrap();

    let cases: [(Option<&str>, StatusCode, &str); 5] = [
        (None, StatusCode::UNAUTHORIZED, "unauthorized"),
        (Some("rq_nonsense"), StatusCode::UNAUTHORIZED, "invalid_key"),
        (Some(&format!("rq_{}_{}", &alice[3..15], "0".repeat(64))), StatusCode::UNAUTHORIZED, "invalid_key"),
        (Some(&gone), StatusCode::UNAUTHORIZED, "key_revoked"),
        (Some(&reader), StatusCode::FORBIDDEN, "forbidden"),
    ];
    for (key, status, code) in cases {
        let (st, headers, body) = call(s, "POST", "/v1/reports", key, Some(summary()), None).await;
        assert_eq!((st, body["error"]["code"].as_str()), (status, Some(code)), "{key:?}: {body}");
        if status == StatusCode::UNAUTHORIZED {
            assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
            assert_eq!(body["error"]["field"], "Authorization");
        }
    }
    // Nothing was stored by the refused calls.
    let (st, _, body) = call(s, "POST", "/v1/reports", Some(&alice), Some(summary()), None).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    let id = body["job_id"].as_str().unwrap().to_string();
    // Alice reads her job; the reader key (another caller) gets 404, as for a job that never was.
    let (st, _, _) = call(s, "GET", &format!("/v1/reports/{id}"), Some(&alice), None, None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, body) = call(s, "GET", &format!("/v1/reports/{id}"), Some(&reader), None, None).await;
    assert_eq!((st, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (st, _, _) = call(s, "GET", &format!("/v1/reports/{id}/pdf"), Some(&reader), None, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // HEAD (which axum answers for every GET route) needs what GET needs: no way around a key.
    for path in [format!("/v1/reports/{id}"), format!("/v1/reports/{id}/pdf"), "/v1/batches/00000000-0000-4000-8000-000000000000".to_string()] {
        let (st, headers, _) = call(s, "HEAD", &path, None, None, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "HEAD {path}");
        assert!(headers.get("location").is_none());
        assert_eq!(call(s, "HEAD", &path, Some(&reader), None, None).await.0, StatusCode::NOT_FOUND, "HEAD {path} with another key");
    }
    // The same for a batch.
    let (st, _, body) = call(s, "POST", "/v1/reports/batch", Some(&alice), Some(json!({"requests": [summary()]})), None).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    let batch = body["batch_id"].as_str().unwrap().to_string();
    assert_eq!(call(s, "GET", &format!("/v1/batches/{batch}"), Some(&alice), None, None).await.0, StatusCode::OK);
    assert_eq!(call(s, "GET", &format!("/v1/batches/{batch}"), Some(&reader), None, None).await.0, StatusCode::NOT_FOUND);
    // The scoring routes need their own scope.
    let model = json!([serde_json::from_slice::<Value>(&common::example("diagram.json")).unwrap()["params"]["models"][0]]);
    let (st, _, body) = call(s, "POST", "/v1/score", Some(&alice), Some(model.clone()), None).await;
    assert_eq!((st, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    // DiAGRAM's routes, health, the page and the docs stay open: a static frontend has no secret.
    assert_eq!(call(s, "POST", "/api/model/score", None, Some(model[0].clone()), None).await.0, StatusCode::OK);
    for path in ["/healthz", "/v1/templates", "/openapi.json", "/api/test/is_alive"] {
        let st = call(s, "GET", path, None, None, None).await.0;
        assert!(st == StatusCode::OK || st == StatusCode::SERVICE_UNAVAILABLE, "{path}: {st}");
    }
}

#[tokio::test]
async fn quotas_refuse_with_429_and_retry_after_and_replays_cost_nothing() {
    let e = env(AuthMode::Keys, |_| {});
    let s = &e.state;
    let (key, rec) = e.keys.create_key("q", vec![Scope::Submit, Scope::Read], Some(3), 0).await.unwrap();
    // A batch of two, then a replay of one request with its key (free), then one more.
    let (st, _, body) = call(s, "POST", "/v1/reports/batch", Some(&key), Some(json!({"requests": [summary(), summary()]})), None).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    assert_eq!(call(s, "POST", "/v1/reports", Some(&key), Some(summary()), Some("one")).await.0, StatusCode::ACCEPTED);
    assert_eq!(call(s, "POST", "/v1/reports", Some(&key), Some(summary()), Some("one")).await.0, StatusCode::ACCEPTED);
    let (st, headers, body) = call(s, "POST", "/v1/reports", Some(&key), Some(summary()), None).await;
    assert_eq!((st, body["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("quota_exceeded")), "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry));
    assert!(body["error"]["message"].as_str().unwrap().contains("3 reports a day"));
    // A batch that would cross the quota is refused whole.
    let (st, _, _) = call(s, "POST", "/v1/reports/batch", Some(&key), Some(json!({"requests": [summary()]})), None).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    // One bigger than a whole day's quota is not told to wait for tomorrow.
    let (st, headers, body) = call(s, "POST", "/v1/reports/batch", Some(&key), Some(json!({"requests": vec![summary(); 4]})), None).await;
    assert_eq!((st, body["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("over_quota")), "{body}");
    assert!(headers.get("retry-after").is_none());
    assert_eq!(e.keys.used_today(&rec.id, reportq::domain::now_epoch()).await.unwrap(), 3);
}

/// Callback hosts are resolved only for work the quota and the queue let in, all at once, and
/// a request may name at most MAX_CALLBACK_HOSTS of them (found in review: a quota-exhausted key
/// still had one DNS lookup done per distinct URL of a 1,000-request batch, one at a time).
#[tokio::test]
async fn callbacks_are_resolved_after_the_quota_and_a_batch_names_few_hosts() {
    let e = env(AuthMode::Keys, |c| c.webhooks.queue_url = Some("memory".into()));
    let s = &e.state;
    let (key, rec) = e.keys.create_key("q", vec![Scope::Submit, Scope::Read], Some(1), 0).await.unwrap();
    let with_callback = |url: &str| {
        let mut r = summary();
        r["callback"] = json!({ "url": url });
        r
    };
    // Refused for its callback (`.invalid` never resolves): 400, and the count given back.
    let (st, _, body) = call(s, "POST", "/v1/reports", Some(&key), Some(with_callback("https://a.invalid/hook")), None).await;
    assert_eq!((st, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("callback.url")), "{body}");
    assert_eq!(e.keys.used_today(&rec.id, reportq::domain::now_epoch()).await.unwrap(), 0);
    assert_eq!(call(s, "POST", "/v1/reports", Some(&key), Some(summary()), None).await.0, StatusCode::ACCEPTED);
    // The quota used up: refused for that, before any lookup of its callback.
    let (st, _, body) = call(s, "POST", "/v1/reports", Some(&key), Some(with_callback("https://b.invalid/hook")), None).await;
    assert_eq!((st, body["error"]["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("quota_exceeded")), "{body}");
    // Eleven hosts in one batch: refused at the eleventh without a lookup, naming it.
    let requests: Vec<Value> = (0..12).map(|i| with_callback(&format!("https://h{i}.invalid/hook"))).collect();
    let open = env(AuthMode::Off, |c| c.webhooks.queue_url = Some("memory".into()));
    let (st, _, body) = call(&open.state, "POST", "/v1/reports/batch", None, Some(json!({ "requests": requests })), None).await;
    assert_eq!((st, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("requests[10].callback.url")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("at most 10 hosts"), "{body}");
    // Many URLs on few hosts are fine: one lookup per host (refused here for the host).
    let requests: Vec<Value> = (0..50).map(|i| with_callback(&format!("https://h{}.invalid/hook/{i}", i % 3))).collect();
    let (st, _, body) = call(&open.state, "POST", "/v1/reports/batch", None, Some(json!({ "requests": requests })), None).await;
    assert_eq!((st, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("requests[0].callback.url")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("does not resolve"), "{body}");
}

#[tokio::test]
async fn idempotency_keys_belong_to_their_caller() {
    let e = env(AuthMode::Keys, |_| {});
    let s = &e.state;
    let (a, _) = e.keys.create_key("a", vec![Scope::Submit, Scope::Read], None, 0).await.unwrap();
    let (b, _) = e.keys.create_key("b", vec![Scope::Submit, Scope::Read], None, 0).await.unwrap();
    let mut other = summary();
    other["params"]["title"] = json!("Another report");
    // Two callers choosing the same key make two jobs; neither sees the other's or a 422.
    let (st_a, _, ja) = call(s, "POST", "/v1/reports", Some(&a), Some(summary()), Some("order-1")).await;
    let (st_b, _, jb) = call(s, "POST", "/v1/reports", Some(&b), Some(other), Some("order-1")).await;
    assert_eq!((st_a, st_b), (StatusCode::ACCEPTED, StatusCode::ACCEPTED), "{jb}");
    assert_ne!(ja["job_id"], jb["job_id"]);
    // Within one caller the key still finds the first job.
    let (_, _, again) = call(s, "POST", "/v1/reports", Some(&a), Some(summary()), Some("order-1")).await;
    assert_eq!(again["job_id"], ja["job_id"]);
}

#[tokio::test]
async fn callbacks_are_refused_at_submit_when_they_cannot_or_may_not_be_called() {
    // Webhooks off: a callback is an error, not silently dropped.
    let off = env(AuthMode::Off, |_| {});
    let mut req = summary();
    req["callback"] = json!({"url": "https://example.org/hook"});
    let (st, _, body) = call(&off.state, "POST", "/v1/reports", None, Some(req.clone()), None).await;
    assert_eq!((st, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("callback")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("not enabled"));

    let on = env(AuthMode::Off, |c| c.webhooks.queue_url = Some("memory".into()));
    for (url, field, needle) in [
        ("https://localhost:8443/hook", "callback.url", "loopback"),
        ("https://127.0.0.1/hook", "callback.url", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "callback.url", "metadata"),
        ("https://[::ffff:10.0.0.1]/", "callback.url", "private"),
        ("https://10.1.2.3/", "callback.url", "private"),
        ("ftp://example.org/", "callback.url", "https"),
    ] {
        let mut r = summary();
        r["callback"] = json!({ "url": url });
        let (st, _, body) = call(&on.state, "POST", "/v1/reports", None, Some(r), None).await;
        assert_eq!((st, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some(field)), "{url}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(needle), "{url}: {body}");
    }
    // In a batch, the item is named.
    let mut bad = summary();
    bad["callback"] = json!({"url": "https://127.0.0.1/"});
    let (st, _, body) = call(&on.state, "POST", "/v1/reports/batch", None, Some(json!({"requests": [summary(), bad]})), None).await;
    assert_eq!((st, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("requests[1].callback.url")), "{body}");
    // A route that answers at once takes no callback.
    let (st, _, body) = call(&on.state, "POST", "/v1/reports/csv", None, Some(req), None).await;
    assert_eq!((st, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("callback")), "{body}");
    // Nothing was queued by any of these.
    let (_, _, health) = call(&on.state, "GET", "/healthz", None, None, None).await;
    assert!(health.is_object());
}

#[tokio::test]
async fn openapi_documents_security_and_callbacks() {
    let e = env(AuthMode::Off, |_| {});
    let (_, _, doc) = call(&e.state, "GET", "/openapi.json", None, None, None).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["apiKey"]["scheme"], "bearer");
    assert_eq!(schemes["jwt"]["bearerFormat"], "JWT");
    for r in reportq::api::routes() {
        let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
        let security = op["security"].as_array().unwrap_or_else(|| panic!("{} {} has no security", r.method, r.path));
        assert_eq!(security.is_empty(), r.scope.is_none(), "{} {}", r.method, r.path);
        if r.scope.is_some() {
            assert!(op["responses"]["401"].is_object() && op["responses"]["403"].is_object(), "{} {}", r.method, r.path);
        }
    }
    for (path, name) in [("/v1/reports", "reportFinished"), ("/v1/reports/batch", "batchCompleted")] {
        let cb = &doc["paths"][path]["post"]["callbacks"][name]["{$request.body#/callback/url}"]["post"];
        let headers: Vec<&str> = cb["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(headers, ["webhook-id", "webhook-timestamp", "webhook-signature"]);
        assert_eq!(cb["requestBody"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/WebhookEvent");
    }
}
