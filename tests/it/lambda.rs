//! The Lambda entry points (`reportq-api`, `reportq-worker`) as Lambda runs them: the real
//! binaries, started against a Runtime API, handed API Gateway v2 and SQS event JSON from
//! `tests/fixtures/lambda/`, talking to a real LocalStack.

use crate::common;

use std::time::Duration;

use base64::Engine;
use common::aws::{LocalStack, clients, resources};
use common::lambda_rt::RuntimeApi;
use reportq::domain::job::Status;
use reportq::queue::{JobMessage, SqsQueue};
use reportq::store::{JobStore, S3Store};
use serde_json::{Value, json};

const PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000000";

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(common::root().join("tests/fixtures/lambda").join(name)).unwrap()).unwrap()
}

fn with_id(event: &Value, id: &str) -> Value {
    serde_json::from_str(&event.to_string().replace(PLACEHOLDER, id)).unwrap()
}

fn env(res: &common::aws::Resources) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", res.endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("REPORTQ_BUCKET", res.bucket.clone()),
        ("REPORTQ_QUEUE_URL", res.queue_url.clone()),
        ("REPORTQ_CORS_ORIGINS", "https://diagram.example.org".into()),
        ("REPORTQ_DIAGRAM_MODEL", common::root().join("tests/fixtures/diagram-like.bif").display().to_string()),
        ("REPORTQ_MAX_RECEIVE_COUNT", "3".into()),
        ("REPORTQ_TEX_BUNDLE", common::render_config(std::path::Path::new("reportq")).bundle.display().to_string()),
        // Open /v1 routes, on purpose: on Lambda that takes both (the jwt test sets its own).
        ("REPORTQ_AUTH", "off".into()),
        ("REPORTQ_ALLOW_ANONYMOUS_V1", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn header<'a>(resp: &'a Value, name: &str) -> &'a str {
    resp["headers"][name].as_str().unwrap_or_else(|| panic!("no {name} header in {resp}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lambda_entry_points_with_api_gateway_and_sqs_events() {
    let ls = LocalStack::start();
    let res = resources(&ls.endpoint, 2, 3);
    let (s3, sqs) = clients(&ls.endpoint).await;
    let jobs = S3Store::new(s3.clone(), res.bucket.clone());
    let queue = SqsQueue::new(sqs.clone(), res.queue_url.clone());

    let mut api = RuntimeApi::start().await;
    api.spawn(env!("CARGO_BIN_EXE_reportq-api"), &env(&res));

    // POST /v1/reports: 202, Location, a job, one message.
    let resp = api.invoke(fixture("apigw-v2-submit.json")).await.unwrap();
    assert_eq!(resp["statusCode"], 202, "{resp}");
    assert_eq!(resp["isBase64Encoded"], false);
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    let id = body["job_id"].as_str().unwrap().to_string();
    assert_eq!(header(&resp, "location"), format!("/v1/reports/{id}"));
    assert_eq!(body["status"], "queued");
    // The same event again (API Gateway retried, the client retried): same Idempotency-Key,
    // same job.
    let again = api.invoke(fixture("apigw-v2-submit.json")).await.unwrap();
    let again: Value = serde_json::from_str(again["body"].as_str().unwrap()).unwrap();
    assert_eq!(again["job_id"], body["job_id"]);

    // A base64-encoded body (API Gateway encodes some) is read the same.
    let resp = api.invoke(fixture("apigw-v2-submit-base64.json")).await.unwrap();
    assert_eq!(resp["statusCode"], 202, "{resp}");

    let resp = api.invoke(fixture("apigw-v2-submit-bad.json")).await.unwrap();
    assert_eq!(resp["statusCode"], 400);
    let err: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(err["error"]["field"], "params.models");

    // GET /v1/reports/{id}: queued; unknown: 404.
    let resp = api.invoke(with_id(&fixture("apigw-v2-get-report.json"), &id)).await.unwrap();
    assert_eq!(resp["statusCode"], 200);
    let v: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(v["status"], "queued");
    let resp = api.invoke(fixture("apigw-v2-get-report.json")).await.unwrap();
    assert_eq!(resp["statusCode"], 404);
    let resp = api.invoke(fixture("apigw-v2-get-batch.json")).await.unwrap();
    assert_eq!(resp["statusCode"], 404);
    let resp = api.invoke(fixture("apigw-v2-unknown-route.json")).await.unwrap();
    assert_eq!(resp["statusCode"], 404);

    // Binary answers are base64 for API Gateway; CORS for the configured origin.
    let resp = api.invoke(fixture("apigw-v2-chart-plot.json")).await.unwrap();
    assert_eq!(resp["statusCode"], 200);
    assert_eq!(resp["isBase64Encoded"], true);
    assert_eq!(header(&resp, "content-type"), "image/png");
    assert_eq!(header(&resp, "access-control-allow-origin"), "https://diagram.example.org");
    let png = base64::engine::general_purpose::STANDARD.decode(resp["body"].as_str().unwrap()).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let resp = api.invoke(fixture("apigw-v2-preflight.json")).await.unwrap();
    assert!(resp["statusCode"] == 200 || resp["statusCode"] == 204, "{resp}");
    assert_eq!(header(&resp, "access-control-allow-origin"), "https://diagram.example.org");
    assert!(header(&resp, "access-control-allow-headers").contains("idempotency-key"));

    // The worker Lambda: an SQS event with the job's message and a poison one. The job is
    // rendered; only the poison record is reported for retry.
    let msgs = queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert!(msgs.iter().any(|m| m.body.as_deref().unwrap().contains(&id)), "the submit sent a message");
    let mut worker = RuntimeApi::start().await;
    worker.spawn(env!("CARGO_BIN_EXE_reportq-worker"), &env(&res));
    let event = with_id(&fixture("sqs-event.json"), &id);
    let resp = worker.invoke(event.clone()).await.unwrap();
    let poison_id = event["Records"][1]["messageId"].as_str().unwrap();
    assert_eq!(resp, json!({ "batchItemFailures": [{ "itemIdentifier": poison_id }] }));
    let (job, _) = jobs.job(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(job.status, Status::Succeeded);
    // Delivered again (at least once): nothing to do, nothing failed... but the poison again.
    let resp = worker.invoke(event).await.unwrap();
    assert_eq!(resp["batchItemFailures"].as_array().unwrap().len(), 1);
    assert_eq!(jobs.job(id.parse().unwrap()).await.unwrap().unwrap().0.attempts, 1);
    // The hourly schedule's event goes to the sweep (nothing here is old enough to expire).
    let resp = worker.invoke(fixture("eventbridge-schedule.json")).await.unwrap();
    assert_eq!(resp, json!({ "checked": 0, "expired": 0 }));

    // The API now answers with a presigned URL, and /pdf with a 303 to one.
    let resp = api.invoke(with_id(&fixture("apigw-v2-get-report.json"), &id)).await.unwrap();
    let v: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(v["status"], "succeeded");
    let url = v["result"]["url"].as_str().unwrap();
    let pdf = reqwest::get(url).await.unwrap();
    assert_eq!(pdf.status(), 200);
    let text = common::pdf_text(&pdf.bytes().await.unwrap());
    assert!(common::squash(&text).contains("FixtureRecordOffice"));
    let mut ev = with_id(&fixture("apigw-v2-get-report.json"), &id);
    let path = format!("/v1/reports/{id}/pdf");
    ev["rawPath"] = json!(path);
    ev["requestContext"]["http"]["path"] = json!(path);
    let resp = api.invoke(ev).await.unwrap();
    assert_eq!(resp["statusCode"], 303);
    assert!(header(&resp, "location").contains("X-Amz-Signature="));
    let _ = JobMessage::bulk(uuid::Uuid::nil());
}

/// An API Gateway event as its JWT authorizer passes it on: the token's claims in
/// `requestContext.authorizer.jwt`.
fn with_claims(mut event: Value, sub: &str, scope: &str) -> Value {
    event["requestContext"]["authorizer"] =
        json!({ "jwt": { "claims": { "sub": sub, "iss": "https://id.example.org/", "aud": "reportq", "scope": scope }, "scopes": null } });
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jwt_claims_from_the_authorizer_own_jobs_and_the_webhook_function_answers_sqs() {
    let ls = LocalStack::start();
    let res = resources(&ls.endpoint, 2, 3);
    let mut vars = env(&res);
    vars.push(("REPORTQ_AUTH".into(), "jwt".into()));
    vars.push(("REPORTQ_JWT_SCOPE_PREFIX".into(), "reportq".into()));
    let mut api = RuntimeApi::start().await;
    api.spawn(env!("CARGO_BIN_EXE_reportq-api"), &vars);

    // No claims (a route the authorizer did not cover): 401. Claims without the scope: 403.
    let resp = api.invoke(fixture("apigw-v2-submit.json")).await.unwrap();
    assert_eq!(resp["statusCode"], 401, "{resp}");
    let resp = api.invoke(with_claims(fixture("apigw-v2-submit.json"), "alice", "openid reportq/read")).await.unwrap();
    assert_eq!(resp["statusCode"], 403, "{resp}");
    // Another resource server's scope, or (an ID token) none at all, grants nothing.
    for scope in ["billing/submit reportq:submit", ""] {
        let resp = api.invoke(with_claims(fixture("apigw-v2-submit.json"), "alice", scope)).await.unwrap();
        assert_eq!(resp["statusCode"], 403, "{scope:?}: {resp}");
    }
    // Alice submits and reads her job; Bob, with every scope, gets 404 for it.
    let resp = api.invoke(with_claims(fixture("apigw-v2-submit.json"), "alice", "reportq/submit reportq/read")).await.unwrap();
    assert_eq!(resp["statusCode"], 202, "{resp}");
    let id = serde_json::from_str::<Value>(resp["body"].as_str().unwrap()).unwrap()["job_id"].as_str().unwrap().to_string();
    let get = with_id(&fixture("apigw-v2-get-report.json"), &id);
    let resp = api.invoke(with_claims(get.clone(), "alice", "reportq/read")).await.unwrap();
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let resp = api.invoke(with_claims(get, "bob", "reportq/submit reportq/read")).await.unwrap();
    assert_eq!(resp["statusCode"], 404, "{resp}");
    let (s3, _) = clients(&ls.endpoint).await;
    let (job, _) = S3Store::new(s3, res.bucket.clone()).job(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(job.owner.as_deref(), Some("jwt:https://id.example.org/|alice"));

    // The same image as the webhook function: an SQS batch from the delivery queue. A
    // delivery whose record is gone is dropped (handled); a body that is not a delivery
    // message is reported for retry, so it ends in the delivery DLQ.
    let mut hooks = RuntimeApi::start().await;
    let mut hook_vars = env(&res);
    hook_vars.push(("REPORTQ_ROLE".into(), "webhooks".into()));
    hook_vars.push(("REPORTQ_WEBHOOK_QUEUE_URL".into(), res.webhook_url.clone()));
    // As the template gives it: the secret's ARN (the function reads it from Secrets Manager
    // before taking events; an unreadable one would stop it here).
    let sm = aws_sdk_secretsmanager::Client::new(&common::aws::sdk_config(&ls.endpoint).await);
    let secret = sm.create_secret().name("reportq-webhooks").secret_string(reportq::domain::webhook::Secret::generate()).send().await.unwrap();
    hook_vars.push(("REPORTQ_WEBHOOK_SECRETS_ARN".into(), secret.arn().unwrap().to_string()));
    hooks.spawn(env!("CARGO_BIN_EXE_reportq-api"), &hook_vars);
    let mut event = fixture("sqs-event.json");
    let msg = json!({ "subject": { "kind": "report", "id": uuid::Uuid::new_v4() }, "attempt": 1, "not_before_ms": 0 });
    event["Records"][0]["body"] = json!(msg.to_string());
    let resp = hooks.invoke(event.clone()).await.unwrap();
    let poison_id = event["Records"][1]["messageId"].as_str().unwrap();
    assert_eq!(resp, json!({ "batchItemFailures": [{ "itemIdentifier": poison_id }] }));
}
