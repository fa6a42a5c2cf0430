//! The router on its own (no emulator needed): the OpenAPI document against the routes, the
//! scoring routes, the synchronous outputs, CORS and the DiAGRAM compatibility routes.

use crate::common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use reportq::api::{ApiState, router, routes};
use reportq::config::ApiSettings;
use reportq::queue::MemoryQueue;
use reportq::store::MemoryStore;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The router on the in-memory store and queue: these tests never reach AWS.
async fn state(model: bool) -> Arc<ApiState> {
    let mut cfg = ApiSettings::new("memory", "memory");
    cfg.diagram_model = model.then(|| common::root().join("tests/fixtures/diagram-like.bif"));
    cfg.cors_origins = vec!["https://diagram.example.org".into()];
    Arc::new(ApiState::new(cfg, Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new())))
}

async fn call(s: &Arc<ApiState>, method: &str, path: &str, body: Option<Value>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path);
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = router(s.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, parts.headers, axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec())
}

/// A POST of raw bytes labelled as JSON, as a browser uploads a file's text.
async fn call_raw(s: &Arc<ApiState>, path: &str, body: &'static str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let req = Request::builder().method("POST").uri(path).header("content-type", "application/json").body(Body::from(body)).unwrap();
    let resp = router(s.clone()).oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, parts.headers, axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec())
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(b)))
}

fn models() -> Value {
    let v: Value = serde_json::from_slice(&common::example("diagram.json")).unwrap();
    v["params"]["models"].clone()
}

#[tokio::test]
async fn openapi_matches_the_router() {
    let s = state(true).await;
    let (st, _, body) = call(&s, "GET", "/openapi.json", None).await;
    assert_eq!(st, 200);
    let doc = json_of(&body);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for m in ops.as_object().unwrap().keys() {
            documented.push((m.to_uppercase(), path.clone()));
        }
    }
    let mut served: Vec<(String, String)> = routes().iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served, "openapi.json and the router disagree");
    // Every documented operation is routed (not the 404 or 405 fallback), and every $ref
    // resolves.
    for (m, p) in &documented {
        let path = p.replace("{id}", &uuid::Uuid::new_v4().to_string());
        let (st, _, body) = call(&s, m, &path, None).await;
        assert_ne!(st, StatusCode::METHOD_NOT_ALLOWED, "{m} {p}");
        if st == StatusCode::NOT_FOUND {
            assert_ne!(json_of(&body)["error"]["message"], "no such route", "{m} {p}");
        }
    }
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &r[..r.find('"').unwrap()];
        assert!(doc["components"]["schemas"][name].is_object(), "dangling $ref {name}");
    }
    // Operation ids are unique.
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|o| o.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), ids.iter().collect::<std::collections::HashSet<_>>().len());
}

#[tokio::test]
async fn scoring_routes() {
    let s = state(true).await;
    let m = &models()[0];
    let (st, _, body) = call(&s, "POST", "/api/model/score", Some(m.clone())).await;
    assert_eq!(st, 200);
    let one = json_of(&body);
    for k in ["intellectual_control", "renderability"] {
        let x = one[k].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&x));
        assert_eq!((x * 1e4).round() / 1e4, x, "rounded to 4 decimals like the old backend");
    }
    assert_eq!(one["nodes"].as_object().unwrap().len(), 21);
    // An array of exactly one is the same model.
    let (_, _, body) = call(&s, "POST", "/api/model/score", Some(json!([m]))).await;
    assert_eq!(json_of(&body), one);
    let (st, _, _) = call(&s, "POST", "/api/model/score", Some(json!([m, m]))).await;
    assert_eq!(st, 400);

    let (st, _, body) = call(&s, "POST", "/v1/score", Some(models())).await;
    assert_eq!(st, 200);
    let many = json_of(&body);
    assert_eq!(many.as_array().unwrap().len(), models().as_array().unwrap().len());
    assert!((many[0]["intellectual_control"].as_f64().unwrap() - one["intellectual_control"].as_f64().unwrap()).abs() < 1e-4);

    let mut bad = models();
    bad[1]["response"]["Physical_Disaster"] = json!("Sometimes");
    let (st, _, body) = call(&s, "POST", "/v1/score", Some(bad)).await;
    assert_eq!(st, 400);
    let e = json_of(&body)["error"].clone();
    assert_eq!(e["code"], "invalid_model");
    assert_eq!(e["index"], 1);
    assert!(e["field"].as_str().unwrap().contains("Physical_Disaster"), "{e}");
    assert_eq!(e["scenario"], models()[1]["scenario"]);
    assert!(e["model"].is_string());

    let (st, _, body) = call(&s, "POST", "/v1/score/improvements", Some(m.clone())).await;
    assert_eq!(st, 200);
    let imp = json_of(&body)["improvements"].as_array().unwrap().clone();
    assert!(!imp.is_empty());
    assert_eq!(imp[0]["rank"], 1);
    let gains: Vec<f64> = imp.iter().map(|i| i["total_gain"].as_f64().unwrap()).collect();
    assert!(gains.windows(2).all(|w| w[0] >= w[1]), "ranked: {gains:?}");

    // Without a network: 503 naming the setting and the script.
    let none = state(false).await;
    for path in ["/api/model/score", "/v1/score", "/v1/score/improvements"] {
        let (st, _, body) = call(&none, "POST", path, Some(json!([m]))).await;
        assert_eq!(st, 503, "{path}");
        let msg = json_of(&body)["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains("REPORTQ_DIAGRAM_MODEL") && msg.contains("scripts/fetch-diagram-model.sh"), "{msg}");
    }
    let (_, _, body) = call(&none, "GET", "/healthz", None).await;
    assert_eq!(json_of(&body)["scoring"], false);
}

#[tokio::test]
async fn synchronous_outputs_and_diagram_routes() {
    let s = state(true).await;
    let req: Value = serde_json::from_slice(&common::example("diagram.json")).unwrap();
    let (st, h, body) = call(&s, "POST", "/v1/reports/chart", Some(req.clone())).await;
    assert_eq!((st, h["content-type"].to_str().unwrap()), (StatusCode::OK, "image/png"));
    assert!(body.starts_with(b"\x89PNG"));
    let (st, h, body) = call(&s, "POST", "/v1/reports/csv", Some(req.clone())).await;
    assert_eq!(st, 200);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(String::from_utf8(body).unwrap().starts_with("name,scenario,notes,topic"));

    let (st, _, body) = call(&s, "POST", "/api/validation/validate_json", Some(models())).await;
    assert_eq!((st, json_of(&body)), (StatusCode::OK, json!({"status": true})));
    let mut bad = models();
    bad[0]["renderability"] = json!(140);
    // What DiAGRAM's frontend needs to say "Could not extract models from file": a 200 with a
    // false status (any other status shows an unrelated alert), and the reason beside it.
    let (st, _, body) = call(&s, "POST", "/api/validation/validate_json", Some(bad)).await;
    assert_eq!(st, 200);
    let v = json_of(&body);
    assert_eq!(v["status"], false);
    assert_eq!(v["error"]["field"], "params.models[0].renderability");
    // An upload that is not JSON at all, or not an array of models, is the same.
    let (st, _, body) = call_raw(&s, "/api/validation/validate_json", "this is not a models file").await;
    assert_eq!((st, json_of(&body)["status"].clone()), (StatusCode::OK, json!(false)));
    let (st, _, body) = call(&s, "POST", "/api/validation/validate_json", Some(json!({"model_name": "x"}))).await;
    assert_eq!((st, json_of(&body)["status"].clone()), (StatusCode::OK, json!(false)));

    let (st, h, body) = call(&s, "POST", "/api/report/csv", Some(models())).await;
    assert_eq!(st, 200);
    assert_eq!(h["content-type"], "text/csv; charset=UTF-8");
    assert!(h["content-disposition"].to_str().unwrap().contains("models-"));
    assert!(!body.is_empty());

    let rows = json!([{"model_name": "A", "scenario": "Base Model", "intellectual_control": 50, "renderability": 60}]);
    let (st, h, body) = call(&s, "POST", "/api/chart/plot", Some(rows)).await;
    assert_eq!((st, h["content-type"].to_str().unwrap()), (StatusCode::OK, "image/png"));
    assert!(body.starts_with(b"\x89PNG"));
    let (st, _, body) =
        call(&s, "POST", "/api/chart/plot", Some(json!([{"model_name": "A", "scenario": "B", "intellectual_control": 500, "renderability": 1}])))
            .await;
    assert_eq!(st, 400);
    assert_eq!(json_of(&body)["error"]["field"], "[0].intellectual_control");

    for m in ["GET", "POST"] {
        let (st, _, body) = call(&s, m, "/api/test/is_alive", None).await;
        assert_eq!((st, json_of(&body)), (StatusCode::OK, json!({"alive": true})));
    }
    let (st, _, body) = call(&s, "POST", "/api/unknown", None).await;
    assert_eq!(st, 404);
    assert_eq!(json_of(&body)["error"]["code"], "not_found");
}

#[tokio::test]
async fn cors_for_configured_origins_only() {
    let s = state(true).await;
    let preflight = |origin: &'static str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/v1/reports")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,idempotency-key")
            .body(Body::empty())
            .unwrap()
    };
    let ok = router(s.clone()).oneshot(preflight("https://diagram.example.org")).await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://diagram.example.org");
    let other = router(s.clone()).oneshot(preflight("https://evil.example")).await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn jobs_cannot_be_listed_or_guessed_through_the_api() {
    let s = state(false).await;
    // No route lists jobs, reports or batches: only a job's own id reaches it.
    for (method, path) in
        [("GET", "/v1/reports"), ("GET", "/v1/reports/"), ("GET", "/v1/batches"), ("GET", "/v1/jobs"), ("GET", "/jobs/"), ("GET", "/reports/")]
    {
        let (st, _, body) = call(&s, method, path, None).await;
        assert!(st == 404 || st == 405, "{method} {path} answered {st}");
        assert!(json_of(&body)["error"]["code"].is_string());
    }
    // A malformed id is refused before any storage is touched (the clients here point at a
    // port where nothing listens: a store call would be a 5xx).
    for id in ["1", "../jobs", "00000000-0000-0000-0000-000000000000x", "%2e%2e%2fjobs"] {
        let (st, _, _) = call(&s, "GET", &format!("/v1/reports/{id}"), None).await;
        assert!(st == 404 || st == 400, "GET /v1/reports/{id} answered {st}");
    }
}

#[tokio::test]
async fn malformed_query_strings_get_json_errors() {
    // Found by schemathesis: axum's own rejection answered text/plain, against the document.
    let s = state(false).await;
    for q in ["limit=null", "limit=null&limit=null", "limit=-5", "limit=99999999999999999999"] {
        let (st, headers, body) = call(&s, "GET", &format!("/v1/batches/e3e70682-c209-4cac-a29f-6fbed82c07cd?{q}"), None).await;
        assert_eq!(st, 400, "?{q}");
        assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"), "?{q}");
        assert!(json_of(&body)["error"]["message"].is_string());
    }
    // Found by schemathesis's negative_data_rejection: a limit outside 1..=1000 was clamped.
    for q in ["limit=0", "limit=1001"] {
        let (st, _, body) = call(&s, "GET", &format!("/v1/batches/e3e70682-c209-4cac-a29f-6fbed82c07cd?{q}"), None).await;
        assert_eq!((st, json_of(&body)["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")), "?{q}");
    }
}

/// The answers' types and the document describe the same fields: every field a wire type
/// writes (all of its optional ones filled in) is a property of its schema, and back.
#[tokio::test]
async fn openapi_schemas_have_the_wire_types_fields() {
    use reportq::domain::job::{Batch, Job, JobError, Output, Status};
    use reportq::domain::webhook::{Attempt, Delivery, DeliveryState, EventType, Subject};
    use reportq::wire::{BatchJob, BatchSubmitted, BatchView, Counts, JobLinks, JobResult, JobView, Submitted, WebhookView};
    let s = state(false).await;
    let (_, _, body) = call(&s, "GET", "/openapi.json", None).await;
    let doc = json_of(&body);
    let schema_keys = |name: &str| -> Vec<String> {
        let mut k: Vec<String> = doc["components"]["schemas"][name]["properties"].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let keys = |v: Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let id = uuid::Uuid::new_v4();
    let mut job = Job::new(id, Some(id), "diagram", json!({}), 0);
    job.started_at_epoch = Some(1);
    job.finished_at_epoch = Some(2);
    job.error = Some(JobError { code: "c".into(), message: "m".into() });
    job.output = Some(Output { key: "k".into(), size: 1, sha256: "s".into() });
    job.trace_id = Some("t".into());
    let mut view = JobView::of(&job);
    view.result =
        Some(JobResult { url: "u".into(), expires_at: "e".into(), filename: "f".into(), size: 1, sha256: "s".into(), content_type: "t".into() });
    let attempt = Attempt { attempt: 1, at_ms: 0, status: Some(500), latency_ms: 3, error: Some("answered 500".into()) };
    let webhook = WebhookView::of(
        Delivery::new(Subject::Report(id), EventType::ReportSucceeded, "https://e.org/").with_attempt(attempt, DeliveryState::Pending),
    );
    view.webhook = Some(webhook.clone());
    assert_eq!(keys(serde_json::to_value(&view).unwrap()), schema_keys("Job"));
    assert_eq!(keys(serde_json::to_value(&webhook).unwrap()), schema_keys("Webhook"));
    let attempt_keys = {
        let mut k: Vec<String> =
            doc["components"]["schemas"]["Webhook"]["properties"]["attempts"]["items"]["properties"].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(serde_json::to_value(&webhook.attempts[0]).unwrap()), attempt_keys);
    assert_eq!(keys(serde_json::to_value(&view.result).unwrap()), {
        let mut k: Vec<String> =
            doc["components"]["schemas"]["Job"]["properties"]["result"]["properties"].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    });
    assert_eq!(keys(serde_json::to_value(Submitted::of(&job)).unwrap()), schema_keys("Submitted"));
    let batch = Batch { id, created_at_epoch: 0, job_ids: vec![id], manifest: None, owner: None, callback: None };
    assert_eq!(keys(serde_json::to_value(BatchSubmitted::of(&batch)).unwrap()), schema_keys("BatchSubmitted"));
    let page = BatchView {
        batch_id: id,
        created_at: "c".into(),
        total: 1,
        done: false,
        counts: Counts::default(),
        jobs: vec![BatchJob { job_id: id, status: Status::Queued, links: JobLinks::new(id) }],
        next_cursor: None,
        webhook: Some(webhook),
        manifest: Some(reportq::wire::ManifestView { lines: 1, state: "done".into(), lines_read: 1, validated: 1, invalid: 0, errors_url: None }),
    };
    assert_eq!(keys(serde_json::to_value(&page).unwrap()), schema_keys("BatchStatus"));
    assert_eq!(keys(serde_json::to_value(JobLinks::new(id)).unwrap()), schema_keys("Links"));
}

#[tokio::test]
async fn templates_are_listed_with_schemas_that_match_their_rules() {
    let s = state(true).await;
    let (st, _, body) = call(&s, "GET", "/v1/templates", None).await;
    assert_eq!(st, 200);
    let listed: reportq::wire::Templates = serde_json::from_slice(&body).unwrap();
    let infos = reportq::template::all();
    assert_eq!(listed.templates.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), infos.iter().map(|t| t.name).collect::<Vec<_>>());
    for (t, info) in listed.templates.iter().zip(&infos) {
        // The schema names the parameters the template documents, and requires the same ones.
        let props: Vec<&str> = t.schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        let mut want: Vec<&str> = info.params.iter().map(|p| p.name).collect();
        want.sort();
        assert_eq!(props, want, "{}", t.name);
        let mut required: Vec<&str> = t.schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        required.sort();
        let mut want: Vec<&str> = info.params.iter().filter(|p| p.required).map(|p| p.name).collect();
        want.sort();
        assert_eq!(required, want, "{}", t.name);
        // The example is a request the API takes.
        let (st, _, body) = call(&s, "POST", "/v1/reports", Some(t.example.clone())).await;
        assert_eq!(st, 202, "{}: {}", t.name, String::from_utf8_lossy(&body));
    }
    // The model cap in the schema is the rule's.
    let diagram = &listed.templates.iter().find(|t| t.name == "diagram").unwrap().schema;
    assert_eq!(diagram["properties"]["models"]["maxItems"], json!(reportq::domain::diagram::MAX_MODELS));
    // One past the cap is refused, and the message names the cap.
    let mut over = models();
    let one = over[0].clone();
    over = Value::Array(vec![one; reportq::domain::diagram::MAX_MODELS + 1]);
    let (st, _, body) = call(&s, "POST", "/api/validation/validate_json", Some(over)).await;
    assert_eq!(st, 200);
    let msg = json_of(&body)["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains(&format!("at most {}", reportq::domain::diagram::MAX_MODELS)), "{msg}");
}

#[tokio::test]
async fn the_page_and_its_client_module_are_served() {
    let s = state(false).await;
    let (st, h, body) = call(&s, "GET", "/", None).await;
    assert_eq!((st, h["content-type"].to_str().unwrap()), (StatusCode::OK, "text/html; charset=utf-8"));
    assert!(String::from_utf8(body).unwrap().contains(r#"from "./reportq.js""#));
    let (st, h, body) = call(&s, "GET", "/reportq.js", None).await;
    assert_eq!((st, h["content-type"].to_str().unwrap()), (StatusCode::OK, "text/javascript; charset=utf-8"));
    assert!(String::from_utf8(body).unwrap().contains("export async function submitAndPoll("));
}

/// Found by schemathesis once the templates had schemas: a summary without charts asked for
/// its chart was a 500; it is the caller's mistake, a 400 naming the field.
#[tokio::test]
async fn a_chart_of_a_request_without_charts_is_a_400() {
    let s = state(false).await;
    let req = json!({"template": "summary", "params": {"title": "No charts", "sections": [{"heading": "Text only", "paragraphs": ["x"]}]}});
    let (st, _, body) = call(&s, "POST", "/v1/reports/chart", Some(req)).await;
    assert_eq!(st, 400);
    let v = json_of(&body);
    assert_eq!(v["error"]["field"], "params.sections");
    assert!(v["error"]["message"].as_str().unwrap().contains("no chart"), "{v}");
}

#[tokio::test]
async fn health_says_whether_the_store_and_queue_answer() {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let s = Arc::new(ApiState::new(ApiSettings::new("memory", "memory"), store.clone(), queue.clone()));
    let (st, _, body) = call(&s, "GET", "/healthz", None).await;
    let v = json_of(&body);
    assert_eq!((st, v["status"].as_str(), v["s3"].as_bool(), v["queue"].as_bool()), (StatusCode::OK, Some("ok"), Some(true), Some(true)));
    assert!(v["commit"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
    // A fresh state (the answer is cached a few seconds) over a queue that is down.
    queue.set_down(true);
    let s = Arc::new(ApiState::new(ApiSettings::new("memory", "memory"), store.clone(), queue.clone()));
    let (st, _, body) = call(&s, "GET", "/healthz", None).await;
    let v = json_of(&body);
    assert_eq!(
        (st, v["status"].as_str(), v["s3"].as_bool(), v["queue"].as_bool()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("degraded"), Some(true), Some(false))
    );
}

#[tokio::test]
async fn over_the_backlog_limit_new_work_is_refused_with_retry_after() {
    let queue = Arc::new(MemoryQueue::new());
    let mut cfg = ApiSettings::new("memory", "memory");
    (cfg.max_backlog, cfg.max_interactive_backlog, cfg.pdf_wait_backlog) = (5, 6, 0);
    cfg.pdf_wait = std::time::Duration::from_secs(20);
    let s = Arc::new(ApiState::new(cfg, Arc::new(MemoryStore::new()), queue.clone()));
    let req: Value = serde_json::from_slice(&common::example("summary.json")).unwrap();
    let batch = |n: usize| json!({ "requests": vec![req.clone(); n] });
    let (st, _, _) = call(&s, "POST", "/v1/reports/batch", Some(batch(3))).await;
    assert_eq!(st, 202);
    // 3 waiting + 3 more > 5: refused, and nothing of it stored or sent.
    let (st, h, body) = call(&s, "POST", "/v1/reports/batch", Some(batch(3))).await;
    assert_eq!(st, 503);
    assert_eq!(h["retry-after"], "30");
    let v = json_of(&body);
    assert_eq!(v["error"]["code"], "overloaded");
    assert!(v["error"]["message"].as_str().unwrap().contains("3 reports are waiting"), "{v}");
    assert_eq!(queue.len(), 3);
    // Within the limit still goes through.
    let (st, _, _) = call(&s, "POST", "/v1/reports/batch", Some(batch(2))).await;
    assert_eq!(st, 202);
    // Under a backlog the PDF route queues its job but does not wait 20 s for it.
    let t = std::time::Instant::now();
    let (st, _, body) = call(&s, "POST", "/api/report/pdf", Some(models())).await;
    assert_eq!((st, json_of(&body)["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("report_pending")));
    assert!(t.elapsed() < std::time::Duration::from_secs(5), "the PDF route waited {:?} under a backlog", t.elapsed());
    assert_eq!(queue.len(), 6);
    // And past the interactive limit a single report is refused too.
    let (st, _, body) = call(&s, "POST", "/v1/reports", Some(req)).await;
    assert_eq!((st, json_of(&body)["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("overloaded")));
}

/// The caller's trace, and its decision not to be sampled, travel to the job's message (and
/// from there to the worker as `AWSTraceHeader`); without a header a new, sampled trace starts.
#[tokio::test]
async fn the_callers_trace_and_sampling_decision_reach_the_queue() {
    let queue = Arc::new(MemoryQueue::new());
    let s = Arc::new(ApiState::new(ApiSettings::new("memory", "memory"), Arc::new(MemoryStore::new()), queue.clone()));
    let req: Value = serde_json::from_slice(&common::example("summary.json")).unwrap();
    let submit = |traceparent: Option<&'static str>| {
        let mut r = Request::builder().method("POST").uri("/v1/reports").header("content-type", "application/json");
        if let Some(t) = traceparent {
            r = r.header("traceparent", t);
        }
        router(s.clone()).oneshot(r.body(Body::from(req.to_string())).unwrap())
    };
    assert_eq!(submit(Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-00")).await.unwrap().status(), 202);
    assert_eq!(submit(Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01")).await.unwrap().status(), 202);
    assert_eq!(submit(None).await.unwrap().status(), 202);
    let traces: Vec<_> = queue.drain().into_iter().map(|m| m.trace.expect("every message is traced")).collect();
    assert_eq!(traces.len(), 3);
    assert_eq!(traces[0].trace_id_hex(), "5759e988bd862e3fe1be46a994272793");
    assert!(traces[0].xray().ends_with(";Sampled=0"), "{}", traces[0].xray());
    assert_ne!(traces[0].span_id, 0x53995c3f42cd8ad8, "the message is a child span of the caller's");
    assert!(traces[1].sampled && traces[2].sampled);
    assert_ne!(traces[2].trace_id_hex(), "5759e988bd862e3fe1be46a994272793");
}

/// User text that a spreadsheet would run as a formula leaves every CSV route as text (OWASP's
/// leading `'`); the scores stay numbers.
#[tokio::test]
async fn csv_exports_neutralise_formulas_in_user_text() {
    let s = state(true).await;
    let mut m = models();
    m[0]["model_name"] = json!("=HYPERLINK(\"http://evil.example\",\"click\")");
    m[0]["notes"] = json!("@SUM(A1:A9)");
    let summary = json!({"template": "summary", "params": {"title": "t", "sections": [{"heading": "+cmd|' /C calc'!A0",
        "charts": [{"title": "-2+3", "kind": "bar", "categories": ["a"], "series": [{"name": "=1+1", "values": [-5]}]}]}]}});
    let diagram = json!({"template": "diagram", "params": {"models": m.clone()}});
    for (path, body) in [("/api/report/csv", m), ("/v1/reports/csv", diagram), ("/v1/reports/csv", summary)] {
        let (st, _, bytes) = call(&s, "POST", path, Some(body)).await;
        assert_eq!(st, 200, "{path}: {}", String::from_utf8_lossy(&bytes));
        let csv = String::from_utf8(bytes).unwrap();
        for line in csv.lines().skip(1) {
            // Split on commas outside quotes: each field must not start a formula.
            let mut field = String::new();
            let mut quoted = false;
            for c in line.chars().chain([',']) {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => {
                        let number = field.parse::<f64>().is_ok();
                        assert!(number || !field.starts_with(['=', '+', '-', '@']), "{path}: a live formula: {field:?} in {line:?}");
                        field.clear();
                    }
                    c => field.push(c),
                }
            }
        }
        assert!(csv.contains("'="), "{path}: the formula text is kept, neutralised: {csv}");
    }
}

async fn post_bytes(s: &Arc<ApiState>, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let req = Request::builder().method("POST").uri(path).header("content-type", content_type).body(Body::from(body)).unwrap();
    let resp = router(s.clone()).oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec())
}

/// `POST /v1/reports/verify` answers the checks `reportq verify` makes (without a re-render):
/// ok for an intact a-3a report, not ok (still 200: the checks are the answer) for one changed
/// after TeX wrote it, and 400 with the field for a body that is not a PDF sent as one.
#[tokio::test]
async fn the_verify_route_checks_an_uploaded_report() {
    let h = common::harness();
    let mut req: Value = serde_json::from_slice(&common::example("summary.json")).unwrap();
    req["pdf"] = json!({ "standard": "a-3a" });
    let pdf = common::render_json(&h, &req);
    let s = state(false).await;
    let (status, body) = post_bytes(&s, "/v1/reports/verify", "application/pdf", pdf.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let v = json_of(&body);
    assert_eq!(v["ok"], true, "{v}");
    let names: Vec<&str> = v["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap()).collect();
    assert_eq!(names, ["embedded", "request", "fixity"]);
    assert_eq!(v["provenance"]["template"]["name"], "summary");

    let at = pdf.windows(13).position(|w| w == b"pdfaid:part>3").unwrap() + 12;
    let mut changed = pdf.clone();
    changed[at] = b'2';
    let (status, body) = post_bytes(&s, "/v1/reports/verify", "application/pdf", changed).await;
    assert_eq!(status, StatusCode::OK);
    let v = json_of(&body);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["checks"][2]["check"], "fixity");
    assert_eq!(v["checks"][2]["ok"], false);

    for (ct, bytes) in [("application/json", pdf.clone()), ("application/pdf", b"{\"not\": \"a pdf\"}".to_vec())] {
        let (status, body) = post_bytes(&s, "/v1/reports/verify", ct, bytes).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json_of(&body)["error"]["field"], "body", "{ct}");
    }
}
