//! A Lambda Runtime API on 127.0.0.1 (the interface Lambda offers a function's process, as
//! AWS's Runtime Interface Emulator does), so tests run the real `reportq-api` and
//! `reportq-worker` binaries and hand them event JSON exactly as Lambda would.
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot};

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>>;

struct Rt {
    events: AsyncMutex<mpsc::Receiver<(String, Value)>>,
    pending: Pending,
    first_next: Arc<OnceLock<Instant>>,
}

pub struct RuntimeApi {
    pub addr: String,
    tx: mpsc::Sender<(String, Value)>,
    pending: Pending,
    child: Option<Child>,
    first_next: Arc<OnceLock<Instant>>,
}

async fn next(State(rt): State<Arc<Rt>>) -> Response {
    rt.first_next.get_or_init(Instant::now);
    let Some((id, event)) = rt.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 60_000;
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", HeaderValue::from_str(&id).unwrap());
    h.insert("lambda-runtime-deadline-ms", HeaderValue::from_str(&deadline.to_string()).unwrap());
    h.insert("lambda-runtime-invoked-function-arn", HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:reportq-test"));
    h.insert("lambda-runtime-trace-id", HeaderValue::from_static("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    (h, event.to_string()).into_response()
}

fn answer(rt: &Rt, id: &str, r: Result<Value, Value>) -> StatusCode {
    if let Some(tx) = rt.pending.lock().unwrap().remove(id) {
        let _ = tx.send(r);
    }
    StatusCode::ACCEPTED
}

async fn response(State(rt): State<Arc<Rt>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&rt, &id, Ok(serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

async fn error(State(rt): State<Arc<Rt>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&rt, &id, Err(serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

async fn init_error(body: Bytes) -> StatusCode {
    panic!("the function failed to start: {}", String::from_utf8_lossy(&body));
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let (tx, rx) = mpsc::channel(16);
        let pending: Pending = Arc::default();
        let first_next: Arc<OnceLock<Instant>> = Arc::default();
        let rt = Arc::new(Rt { events: AsyncMutex::new(rx), pending: pending.clone(), first_next: first_next.clone() });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(rt);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        RuntimeApi { addr, tx, pending, child: None, first_next }
    }

    /// Starts a function binary against this Runtime API, with `env` on top of Lambda's own.
    pub fn spawn(&mut self, exe: &str, env: &[(String, String)]) {
        self.launch(Command::new(exe), &[], env);
    }

    /// [`Self::spawn`] with arguments, and without this process's own `AWS_*` and `REPORTQ_*`
    /// settings (only `env` and Lambda's own): e.g. `scripts/lambda-container.sh IMAGE`, which
    /// runs the function's container image and passes those variables in (tests/it/image.rs).
    pub fn spawn_args(&mut self, exe: &str, args: &[&str], env: &[(String, String)]) {
        let mut cmd = Command::new(exe);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("REPORTQ_") {
                cmd.env_remove(k);
            }
        }
        self.launch(cmd, args, env);
    }

    fn launch(&mut self, mut cmd: Command, args: &[&str], env: &[(String, String)]) {
        cmd.args(args)
            .env("AWS_LAMBDA_RUNTIME_API", &self.addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", "reportq-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/reportq-test")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        self.child = Some(cmd.spawn().unwrap());
    }

    /// When the function first asked for an event (`GET /runtime/invocation/next`): the end
    /// of its cold start.
    pub fn first_next(&self) -> Option<Instant> {
        self.first_next.get().copied()
    }

    /// Invokes the function with `event`: its response, or its error.
    pub async fn invoke(&self, event: Value) -> Result<Value, Value> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id.clone(), tx);
        self.tx.send((id, event)).await.unwrap();
        tokio::time::timeout(Duration::from_secs(90), rx).await.expect("the function answered within 90 s").unwrap()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
