//! A Lambda Runtime API on 127.0.0.1: the HTTP interface Lambda offers a function's process
//! (`AWS_LAMBDA_RUNTIME_API`), so a test can run a real `bootstrap` binary exactly as Lambda
//! does and hand it event JSON. Standard library only, so it works in any test crate.
//!
//! Implemented: `GET /2018-06-01/runtime/invocation/next` (blocks until [`RuntimeApi::invoke`]),
//! `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error`,
//! `POST /2018-06-01/runtime/init/error`; HTTP/1.1 keep-alive, Content-Length and chunked bodies.
//!
//! TODO(lead, at the pipeline merge): the worker test of issue 4 is "reportq-worker, run as
//! Lambda runs it, processes a real SQS event against the emulator and the PDF lands in S3".
//! With LocalStack up and a job record written: `let api = RuntimeApi::start()?;`
//! `let mut child = api.spawn(worker_exe, &env)?;` `let id = api.invoke(sqs_event_json);`
//! `api.wait(&id, timeout)` must be `Outcome::Response` with `{"batchItemFailures":[]}`, then
//! `reports/{job}.pdf` must exist in the bucket. (Branch `pipeline` has its own axum-based
//! emulator in tests/common/lambda_rt.rs and tests/lambda.rs doing this: keep one.)
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Vec<u8>),
    /// `error_type` is the `Lambda-Runtime-Function-Error-Type` header, `body` the error JSON.
    Error { error_type: Option<String>, body: Vec<u8> },
}

impl Outcome {
    pub fn json(&self) -> serde_json::Value {
        let b = match self {
            Outcome::Response(b) | Outcome::Error { body: b, .. } => b,
        };
        serde_json::from_slice(b).unwrap_or(serde_json::Value::Null)
    }
}

struct Invocation {
    id: String,
    body: Vec<u8>,
    deadline_ms: u128,
}

#[derive(Default)]
struct State {
    pending: VecDeque<Invocation>,
    /// Handed out by `next`, not yet answered.
    in_flight: HashMap<String, ()>,
    outcomes: HashMap<String, Outcome>,
    init_error: Option<Outcome>,
    next_calls: usize,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// The emulator; stops (and closes waiting `next` calls) when dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    seq: AtomicU64,
    /// Function timeout: the deadline each invocation is given.
    pub timeout: Duration,
    pub function_name: String,
}

pub const PREFIX: &str = "/2018-06-01/runtime";

impl RuntimeApi {
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), changed: Condvar::new() });
        let s = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.state.lock().unwrap().closed {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                thread::spawn(move || {
                    let _ = serve(conn, &s);
                });
            }
        });
        Ok(Self { addr, shared, seq: AtomicU64::new(0), timeout: Duration::from_secs(60), function_name: "reportq-test".into() })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` (host:port, no scheme).
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The environment Lambda gives a custom runtime (what `lambda_runtime` reads at start).
    pub fn lambda_env(&self, memory_mb: u32) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", self.function_name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", self.function_name)),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]0123456789abcdef".into()),
            ("_HANDLER", "bootstrap".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Starts `exe` as Lambda would: against this API, with `env` added (bucket, queue, ...).
    pub fn spawn(&self, exe: &Path, env: &[(String, String)]) -> io::Result<Child> {
        Command::new(exe).envs(self.lambda_env(2048)).envs(env.iter().cloned()).spawn()
    }

    /// Queues one event; returns its request id.
    pub fn invoke(&self, event: impl Into<Vec<u8>>) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("00000000-0000-4000-8000-{n:012x}");
        let deadline_ms = (SystemTime::now() + self.timeout).duration_since(UNIX_EPOCH).unwrap().as_millis();
        let mut st = self.shared.state.lock().unwrap();
        st.pending.push_back(Invocation { id: id.clone(), body: event.into(), deadline_ms });
        self.shared.changed.notify_all();
        id
    }

    /// Waits for the function's answer to `id`.
    pub fn wait(&self, id: &str, timeout: Duration) -> Option<Outcome> {
        self.wait_for(timeout, |st| st.outcomes.get(id).cloned())
    }

    /// The function's `init/error` report, if it made one within `timeout`.
    pub fn init_error(&self, timeout: Duration) -> Option<Outcome> {
        self.wait_for(timeout, |st| st.init_error.clone())
    }

    /// How many `next` calls arrived (the first one means the runtime finished its init).
    pub fn next_calls(&self) -> usize {
        self.shared.state.lock().unwrap().next_calls
    }

    fn wait_for<T>(&self, timeout: Duration, mut f: impl FnMut(&State) -> Option<T>) -> Option<T> {
        let end = Instant::now() + timeout;
        let mut st = self.shared.state.lock().unwrap();
        loop {
            if let Some(v) = f(&st) {
                return Some(v);
            }
            let left = end.checked_duration_since(Instant::now())?;
            st = self.shared.changed.wait_timeout(st, left).unwrap().0;
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.state.lock().unwrap().closed = true;
        self.shared.changed.notify_all();
        // Wakes the accept loop so it sees `closed`.
        let _ = TcpStream::connect(self.addr);
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("bad request line {line:?}")));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers = HashMap::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if headers.get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    line.clear();
                    if r.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else if let Some(n) = headers.get("content-length") {
        let n: usize = n.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Some(Request { method, path, headers, body }))
}

fn respond(w: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

fn serve(conn: TcpStream, s: &Shared) -> io::Result<()> {
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let json = || ("content-type", "application/json".to_string());
    while let Some(req) = read_request(&mut r)? {
        let rest = req.path.strip_prefix(PREFIX).unwrap_or("");
        let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        match (req.method.as_str(), segs.as_slice()) {
            ("GET", ["invocation", "next"]) => {
                let mut st = s.state.lock().unwrap();
                st.next_calls += 1;
                s.changed.notify_all();
                let inv = loop {
                    if st.closed {
                        drop(st);
                        let _ = w.shutdown(Shutdown::Both);
                        return Ok(());
                    }
                    if let Some(inv) = st.pending.pop_front() {
                        break inv;
                    }
                    st = s.changed.wait(st).unwrap();
                };
                st.in_flight.insert(inv.id.clone(), ());
                drop(st);
                respond(&mut w, "200 OK", &[
                    json(),
                    ("lambda-runtime-aws-request-id", inv.id.clone()),
                    ("lambda-runtime-deadline-ms", inv.deadline_ms.to_string()),
                    ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:000000000000:function:reportq-test".into()),
                    ("lambda-runtime-trace-id", format!("Root=1-00000000-{:024x};Sampled=0", 0)),
                ], &inv.body)?;
            }
            ("POST", ["invocation", id, kind @ ("response" | "error")]) => {
                let mut st = s.state.lock().unwrap();
                if st.in_flight.remove(*id).is_none() {
                    drop(st);
                    let body = format!(r#"{{"errorMessage":"no invocation {id} in flight","errorType":"InvalidRequestID"}}"#);
                    respond(&mut w, "400 Bad Request", &[json()], body.as_bytes())?;
                    continue;
                }
                let outcome = if *kind == "response" {
                    Outcome::Response(req.body)
                } else {
                    Outcome::Error { error_type: req.headers.get("lambda-runtime-function-error-type").cloned(), body: req.body }
                };
                st.outcomes.insert(id.to_string(), outcome);
                s.changed.notify_all();
                drop(st);
                respond(&mut w, "202 Accepted", &[json()], br#"{"status":"OK"}"#)?;
            }
            ("POST", ["init", "error"]) => {
                let mut st = s.state.lock().unwrap();
                st.init_error = Some(Outcome::Error {
                    error_type: req.headers.get("lambda-runtime-function-error-type").cloned(),
                    body: req.body,
                });
                s.changed.notify_all();
                drop(st);
                respond(&mut w, "202 Accepted", &[json()], br#"{"status":"OK"}"#)?;
            }
            _ => {
                let body = format!(r#"{{"errorMessage":"no route {} {}","errorType":"NotFound"}}"#, req.method, req.path);
                respond(&mut w, "404 Not Found", &[json()], body.as_bytes())?;
            }
        }
    }
    Ok(())
}
