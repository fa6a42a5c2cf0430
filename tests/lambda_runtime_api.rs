//! Self-test of the Lambda Runtime API emulator (tests/support/lambda_runtime_api.rs): a fake
//! function, written against the HTTP interface alone (no lambda_runtime), drives it over real
//! sockets the way a `bootstrap` does.

#[path = "support/lambda_runtime_api.rs"]
mod lambda_runtime_api;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime_api::{Outcome, PREFIX, RuntimeApi};
use serde_json::{Value, json};

/// One keep-alive connection, as a runtime client holds it.
struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Conn {
    fn open(addr: &str) -> Conn {
        let s = TcpStream::connect(addr).unwrap();
        Conn { w: s.try_clone().unwrap(), r: BufReader::new(s) }
    }

    /// `chunked` sends the body with Transfer-Encoding: chunked (hyper does for streamed bodies).
    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8], chunked: bool) -> Option<Reply> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: runtime\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if chunked {
            req.push_str("transfer-encoding: chunked\r\n\r\n");
            let mut out = req.into_bytes();
            for part in body.chunks(7) {
                out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            self.w.write_all(&out).unwrap();
        } else {
            req.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
            self.w.write_all(req.as_bytes()).unwrap();
            self.w.write_all(body).unwrap();
        }
        let mut line = String::new();
        if self.r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let status = line.split_whitespace().nth(1)?.parse().ok()?;
        let mut headers = HashMap::new();
        loop {
            line.clear();
            self.r.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let mut body = vec![0; headers.get("content-length").map_or(0, |n| n.parse().unwrap())];
        self.r.read_exact(&mut body).unwrap();
        Some(Reply { status, headers, body })
    }
}

/// The fake function: upper-cases `text`, fails on `"op": "fail"`, for `n` invocations.
/// Returns what it saw of each `next` (request id, deadline).
fn fake_function(addr: String, n: usize) -> std::thread::JoinHandle<Vec<(String, u128)>> {
    std::thread::spawn(move || {
        let mut c = Conn::open(&addr);
        let mut seen = Vec::new();
        for _ in 0..n {
            let next = c.send("GET", &format!("{PREFIX}/invocation/next"), &[], b"", false).expect("next");
            assert_eq!(next.status, 200);
            let id = next.headers["lambda-runtime-aws-request-id"].clone();
            let deadline: u128 = next.headers["lambda-runtime-deadline-ms"].parse().unwrap();
            assert!(next.headers["lambda-runtime-invoked-function-arn"].starts_with("arn:aws:lambda:"));
            seen.push((id.clone(), deadline));
            let event: Value = serde_json::from_slice(&next.body).unwrap();
            let reply = if event["op"] == "fail" {
                let body = json!({"errorType": "Fake", "errorMessage": "asked to fail"}).to_string();
                c.send("POST", &format!("{PREFIX}/invocation/{id}/error"),
                       &[("lambda-runtime-function-error-type", "Fake"), ("content-type", "application/json")],
                       body.as_bytes(), true)
            } else {
                let body = json!({"text": event["text"].as_str().unwrap().to_uppercase()}).to_string();
                c.send("POST", &format!("{PREFIX}/invocation/{id}/response"), &[], body.as_bytes(), false)
            };
            assert_eq!(reply.expect("reply").status, 202);
        }
        seen
    })
}

#[test]
fn a_fake_function_gets_events_and_answers_over_one_keep_alive_connection() {
    let api = RuntimeApi::start().unwrap();
    let first = api.invoke(json!({"op": "upper", "text": "report"}).to_string());
    let f = fake_function(api.address(), 3);
    assert!(matches!(api.wait(&first, Duration::from_secs(10)), Some(Outcome::Response(_))));
    // `next` blocks while nothing is queued: the function is waiting when these arrive.
    let t = std::time::Instant::now();
    while api.next_calls() < 2 {
        assert!(t.elapsed() < Duration::from_secs(10), "the function never came back for more");
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = api.invoke(json!({"op": "fail"}).to_string());
    let third = api.invoke(json!({"op": "upper", "text": "queued å"}).to_string());
    let seen = f.join().unwrap();

    assert_eq!(api.wait(&first, Duration::ZERO).unwrap().json(), json!({"text": "REPORT"}));
    match api.wait(&second, Duration::from_secs(10)).unwrap() {
        Outcome::Error { error_type, body } => {
            assert_eq!(error_type.as_deref(), Some("Fake"));
            assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["errorMessage"], "asked to fail");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(api.wait(&third, Duration::from_secs(10)).unwrap().json(), json!({"text": "QUEUED Å"}));
    let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str(), third.as_str()], "in order, each once");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert!(seen.iter().all(|(_, d)| *d > now && *d <= now + 61_000), "deadlines are the function timeout ahead");
}

#[test]
fn answers_for_unknown_invocations_init_errors_and_unknown_routes() {
    let api = RuntimeApi::start().unwrap();
    let mut c = Conn::open(&api.address());
    let r = c.send("POST", &format!("{PREFIX}/invocation/not-a-request/response"), &[], b"{}", false).unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap()["errorType"], "InvalidRequestID");

    // An answer is accepted once: a second one for the same id is refused.
    let id = api.invoke(b"{}".to_vec());
    let next = c.send("GET", &format!("{PREFIX}/invocation/next"), &[], b"", false).unwrap();
    assert_eq!(next.headers["lambda-runtime-aws-request-id"], id);
    assert_eq!(c.send("POST", &format!("{PREFIX}/invocation/{id}/response"), &[], b"1", false).unwrap().status, 202);
    assert_eq!(c.send("POST", &format!("{PREFIX}/invocation/{id}/response"), &[], b"2", false).unwrap().status, 400);
    assert_eq!(api.wait(&id, Duration::ZERO), Some(Outcome::Response(b"1".to_vec())));

    assert_eq!(c.send("GET", "/2018-06-01/runtime/nope", &[], b"", false).unwrap().status, 404);

    assert!(api.init_error(Duration::ZERO).is_none());
    let body = json!({"errorType": "Runtime.InitError", "errorMessage": "REPORTQ_BUCKET is not set"}).to_string();
    let r = c.send("POST", &format!("{PREFIX}/init/error"), &[("lambda-runtime-function-error-type", "Runtime.InitError")], body.as_bytes(), false).unwrap();
    assert_eq!(r.status, 202);
    let e = api.init_error(Duration::from_secs(5)).unwrap();
    assert_eq!(e.json()["errorMessage"], "REPORTQ_BUCKET is not set");
    assert!(matches!(e, Outcome::Error { error_type: Some(t), .. } if t == "Runtime.InitError"));
}

#[test]
fn dropping_the_emulator_ends_a_waiting_next_call() {
    let api = RuntimeApi::start().unwrap();
    let addr = api.address();
    let waiting = std::thread::spawn(move || Conn::open(&addr).send("GET", &format!("{PREFIX}/invocation/next"), &[], b"", false).is_none());
    while api.next_calls() == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(api);
    assert!(waiting.join().unwrap(), "the waiting client sees the connection close");
}

#[test]
fn lambda_env_names_what_lambda_runtime_reads_at_start() {
    let api = RuntimeApi::start().unwrap();
    let env: HashMap<String, String> = api.lambda_env(2048).into_iter().collect();
    for k in ["AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
              "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME"] {
        assert!(env.contains_key(k), "{k}");
    }
    assert_eq!(env["AWS_LAMBDA_RUNTIME_API"], api.address());
    assert!(!env["AWS_LAMBDA_RUNTIME_API"].contains("://"), "host:port, as Lambda sets it");
}
