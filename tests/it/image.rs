//! The Lambda images themselves (`make image`: `localhost/reportq-api:dev`,
//! `localhost/reportq-worker:dev`), run as Lambda runs them: each function process is a
//! container (`scripts/lambda-container.sh`: read-only root, only /tmp writable, uid 65534, no
//! capabilities, prctl refused and no Landlock, the function's memory), started against the
//! Runtime API of `lambda_rt.rs` and talking to LocalStack over the host's network.
//!
//! Skipped unless `REPORTQ_IMAGE_TEST=1` (`make image-test` and `make test` set it, after
//! building the images). `REPORTQ_IMAGE_API` / `REPORTQ_IMAGE_WORKER` name other images.
//! The figures it prints (`image: ...` on stderr) are the README's measured cold start and
//! memory ("Size, cold start and memory").

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::aws::{LocalStack, clients, resources};
use common::lambda_rt::RuntimeApi;
use reportq::domain::job::Status;
use reportq::queue::SqsQueue;
use reportq::store::{JobStore, S3Store};
use serde_json::{Value, json};

/// Where the tests' DiAGRAM-like model sits inside the containers (a bind mount: on AWS it is
/// a file you add to your own image, README "Deploy to AWS").
const MODEL: &str = "/opt/reportq/model/diagram-like.bif";

fn enabled() -> bool {
    let on = std::env::var("REPORTQ_IMAGE_TEST").as_deref() == Ok("1");
    if !on {
        eprintln!("image: SKIP: REPORTQ_IMAGE_TEST is not 1 (make image-test builds the images and runs these)");
    }
    on
}

fn image(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// podman with this repository's settings (what `make` exports), also when run by hand.
fn podman() -> Command {
    let mut cmd = Command::new("podman");
    for (var, file) in [("CONTAINERS_CONF", "containers.conf"), ("CONTAINERS_STORAGE_CONF", "storage.conf")] {
        if std::env::var_os(var).is_none() {
            cmd.env(var, common::root().join("infra/podman").join(file));
        }
    }
    cmd
}

fn wrapper() -> String {
    common::root().join("scripts/lambda-container.sh").display().to_string()
}

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(common::root().join("tests/fixtures/lambda").join(name)).unwrap()).unwrap()
}

fn model_mount() -> String {
    format!("{}:{MODEL}:ro", common::root().join("tests/fixtures/diagram-like.bif").display())
}

fn aws(res: &common::aws::Resources) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", res.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("REPORTQ_BUCKET", res.bucket.as_str()),
        ("REPORTQ_QUEUE_URL", res.queue_url.as_str()),
        ("REPORTQ_CORS_ORIGINS", "https://diagram.example.org"),
        ("REPORTQ_DIAGRAM_MODEL", MODEL),
        ("REPORTQ_MAX_RECEIVE_COUNT", "3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The literal `REPORTQ_*: "value"` settings `infra/template.yaml` gives the worker (its
/// `Globals` and the worker function's own), so the container runs with what a deployed stack
/// sets (a setting the binary refuses fails here, not on AWS).
fn template_literals() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(common::root().join("infra/template.yaml")).unwrap();
    let section =
        |start: &str| -> Vec<&str> { text.lines().skip_while(|l| *l != start).skip(1).take_while(|l| l.is_empty() || l.starts_with(' ')).collect() };
    let mut out = Vec::new();
    // The worker function's block is indented: its end is the next resource (two spaces).
    let worker: Vec<&str> = section("  WorkerFunction:").into_iter().take_while(|l| l.is_empty() || l.starts_with("   ")).collect();
    for l in section("Globals:").into_iter().chain(worker) {
        let l = l.trim();
        let Some((k, v)) = l.split_once(": ") else { continue };
        if k.starts_with("REPORTQ_") && !v.starts_with('!') {
            out.push((k.to_string(), v.trim_matches('"').to_string()));
        }
    }
    assert!(out.iter().any(|(k, _)| k == "REPORTQ_TEX_BUNDLE"), "read no settings from infra/template.yaml: {out:?}");
    out
}

/// The worker's environment as the template's defaults make it (WorkerTimeout 180).
fn worker_env(res: &common::aws::Resources) -> Vec<(String, String)> {
    let mut env = aws(res);
    env.retain(|(k, _)| k != "REPORTQ_MAX_RECEIVE_COUNT");
    env.extend(template_literals());
    for (k, v) in [
        ("REPORTQ_INTERACTIVE_QUEUE_URL", res.interactive_url.clone()),
        ("REPORTQ_URL_EXPIRY_SECS", "900".into()),
        ("REPORTQ_RENDER_TIMEOUT_SECS", "60".into()),
        ("REPORTQ_RENDER_MEMORY_MB", "1024".into()),
        ("REPORTQ_MAX_RECEIVE_COUNT", "5".into()),
        ("REPORTQ_AUTH", "keys".into()),
        ("REPORTQ_WEBHOOK_QUEUE_URL", res.webhook_url.clone()),
        ("REPORTQ_JOB_DEADLINE_SECS", "160".into()),
        ("REPORTQ_WEBHOOK_SECRETS", reportq::domain::webhook::Secret::generate()),
    ] {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v));
    }
    env
}

/// The container's memory cgroup (cgroup v1 under podman's cgroupfs manager, or v2): its peak
/// use in bytes, page cache included, as Lambda's "Max Memory Used" counts it.
fn peak_memory(name: &str) -> Option<u64> {
    let out = podman().args(["inspect", "--format", "{{.State.CgroupPath}}", name]).output().ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if path.is_empty() {
        return None;
    }
    let rel = path.trim_start_matches('/');
    [format!("/sys/fs/cgroup/memory/{rel}/memory.max_usage_in_bytes"), format!("/sys/fs/cgroup/{rel}/memory.peak")]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok()?.trim().parse().ok())
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_and_worker_images_as_lambda_runs_them() {
    if !enabled() {
        return;
    }
    let api_image = image("REPORTQ_IMAGE_API", "localhost/reportq-api:dev");
    let worker_image = image("REPORTQ_IMAGE_WORKER", "localhost/reportq-worker:dev");
    let ls = LocalStack::start();
    let res = resources(&ls.endpoint, 30, 3);
    let (s3, sqs) = clients(&ls.endpoint).await;
    let jobs = S3Store::new(s3.clone(), res.bucket.clone());
    let queue = SqsQueue::new(sqs.clone(), res.queue_url.clone());
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();

    // (a) The API image: POST /v1/reports as API Gateway's HTTP API hands it over.
    let mut api = RuntimeApi::start().await;
    let mut api_env = aws(&res);
    api_env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "512".into()));
    // An open /v1 here (the event carries no key): on Lambda that takes both settings, or the
    // function refuses to start (REPORTQ_AUTH unset names itself).
    api_env.push(("REPORTQ_AUTH".into(), "off".into()));
    api_env.push(("REPORTQ_ALLOW_ANONYMOUS_V1".into(), "true".into()));
    let api_name = format!("reportq-it-api-{tag}");
    api_env.push(("LAMBDA_CONTAINER_NAME".into(), api_name.clone()));
    let mount = model_mount();
    let started = Instant::now();
    api.spawn_args(&wrapper(), &[&api_image, "-v", &mount], &api_env);
    let resp = api.invoke(fixture("apigw-v2-submit.json")).await.unwrap();
    let api_first = api.first_next().map(|t| t - started);
    assert_eq!(resp["statusCode"], 202, "{resp}");
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    let id = body["job_id"].as_str().unwrap().to_string();
    assert_eq!(resp["headers"]["location"], format!("/v1/reports/{id}"));
    assert_eq!(body["status"], "queued");
    eprintln!("image: api container: podman run -> first invocation/next {:?} ms, -> 202 {} ms", api_first.map(ms), ms(started.elapsed()));

    // (b) The worker image: the SQS event carrying the message the API sent.
    // (On the bulk queue: the API here has no interactive lane configured, as in lambda.rs.)
    let msgs = queue.receive(10, Duration::from_secs(5)).await.unwrap();
    let msg = msgs.iter().find(|m| m.body.as_deref().unwrap_or("").contains(&id)).expect("the submit sent a message");
    let mut event = fixture("sqs-event.json");
    let records = event["Records"].as_array_mut().unwrap();
    records.truncate(1);
    records[0]["messageId"] = json!(msg.message_id.as_deref().unwrap());
    records[0]["receiptHandle"] = json!(msg.receipt_handle.as_deref().unwrap());
    records[0]["body"] = json!(msg.body.as_deref().unwrap());

    let mut worker = RuntimeApi::start().await;
    let mut env = worker_env(&res);
    let worker_name = format!("reportq-it-worker-{tag}");
    env.push(("LAMBDA_CONTAINER_NAME".into(), worker_name.clone()));
    // spawn sets 2048 MB (the template's WorkerMemorySize); the wrapper gives the container that.
    let started = Instant::now();
    worker.spawn_args(&wrapper(), &[&worker_image, "-v", &mount], &env);
    let resp = worker.invoke(event).await.unwrap();
    let first_pdf = started.elapsed();
    let cold = worker.first_next().map(|t| t - started);
    assert_eq!(resp, json!({ "batchItemFailures": [] }), "the job's record was handled");
    let (job, _) = jobs.job(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(job.status, Status::Succeeded, "{job:?}");

    // (c) The hourly schedule's event: the sweep (nothing here is old enough to expire).
    let resp = worker.invoke(fixture("eventbridge-schedule.json")).await.unwrap();
    assert_eq!(resp, json!({ "checked": 0, "expired": 0 }));
    let peak = peak_memory(&worker_name);
    eprintln!(
        "image: worker container (2048 MB): podman run -> first invocation/next {:?} ms (cold start), -> first PDF in S3 {} ms; peak memory (cgroup, page cache included) {:?} MB",
        cold.map(ms),
        ms(first_pdf),
        peak.map(|b| b / (1 << 20))
    );

    // The PDF, read back through the API image's presigned URL.
    let get = fixture("apigw-v2-get-report.json").to_string().replace("00000000-0000-4000-8000-000000000000", &id);
    let resp = api.invoke(serde_json::from_str(&get).unwrap()).await.unwrap();
    let v: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(v["status"], "succeeded", "{v}");
    let pdf = reqwest::get(v["result"]["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(pdf.status(), 200);
    let pdf = pdf.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = common::pdf_text(&pdf);
    assert!(common::squash(&text).contains("FixtureRecordOffice"), "{text}");

    drop(worker);
    drop(api);
    // The wrapper's watcher removes each container once its podman is gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = podman().args(["ps", "-a", "-q", "--filter", &format!("name=reportq-it-.*-{tag}")]).output().unwrap();
        if String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "containers left running: {}", String::from_utf8_lossy(&out.stdout));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An operator's render in the very image the worker runs: `reportq` is on its PATH, and the
/// bundle and formats the worker uses are there, read-only, for uid 65534.
#[test]
fn the_worker_image_renders_with_its_reportq_cli() {
    if !enabled() {
        return;
    }
    let worker_image = image("REPORTQ_IMAGE_WORKER", "localhost/reportq-worker:dev");
    let req = common::root().join("examples/diagram.json");
    let mut cmd = Command::new(wrapper());
    // Only what the image sets: nothing of this process's own AWS_* or REPORTQ_* settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("REPORTQ_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args([&worker_image, "--entrypoint", "reportq", "-v", &format!("{}:/req.json:ro", req.display())])
        .args(["--", "render", "/req.json", "-o", "-", "--epoch", "1700000000"])
        .env("LAMBDA_CONTAINER_NAME", format!("reportq-it-cli-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.starts_with(b"%PDF-"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(common::pdf_pages(&out.stdout) >= 1);
}
