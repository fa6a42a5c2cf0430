//! A real LocalStack for tests: started on a free 127.0.0.1 port with presigned-URL signature
//! checks on (or reused from `REPORTQ_TEST_LOCALSTACK`, which `make test` sets to one shared
//! instance), each test with its own bucket and queues made by the same init script as
//! `infra/localstack/`. Also a fault-injecting TCP proxy the tests put in front of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/tmp".into())
}

pub fn venv() -> PathBuf {
    std::env::var_os("REPORTQ_LOCALSTACK_VENV").map(PathBuf::from).unwrap_or_else(|| home().join(".cache/reportq/localstack-venv"))
}

fn python() -> PathBuf {
    let p = venv().join("bin/python");
    assert!(p.exists(), "LocalStack is not installed at {}: run scripts/install-localstack.sh (make test does)", venv().display());
    p
}

/// A LocalStack process (or a shared one), stopped on drop.
pub struct LocalStack {
    pub endpoint: String,
    child: Option<Child>,
    _root: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn healthy(endpoint: &str) -> bool {
    // A tiny blocking HTTP GET: the harness runs before any runtime exists.
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(300)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET /_localstack/health HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("\"s3\": \"running\"") && body.contains("\"sqs\": \"running\"")
}

impl LocalStack {
    /// Its log (each request as `AWS s3.PutObject => 200`), when this process started it.
    #[allow(dead_code)]
    pub fn log(&self) -> Option<std::path::PathBuf> {
        self._root.as_ref().map(|r| r.path().join("localstack.log"))
    }

    pub fn start() -> LocalStack {
        if let Ok(endpoint) = std::env::var("REPORTQ_TEST_LOCALSTACK") {
            assert!(healthy(&endpoint), "REPORTQ_TEST_LOCALSTACK={endpoint} is not a running LocalStack");
            return LocalStack { endpoint, child: None, _root: None };
        }
        let py = python();
        let cache = home().join(".cache/reportq/localstack-cache");
        for _attempt in 0..3 {
            let root = tempfile::tempdir().unwrap();
            let cache_dir = root.path().join("var/lib/localstack/cache");
            std::fs::create_dir_all(&cache_dir).unwrap();
            // LocalStack builds a service catalogue on first start (seconds); reuse it.
            for e in std::fs::read_dir(&cache).into_iter().flatten().flatten() {
                let _ = std::fs::copy(e.path(), cache_dir.join(e.file_name()));
            }
            let port = free_port();
            let endpoint = format!("http://127.0.0.1:{port}");
            let mut cmd = Command::new(&py);
            cmd.args(["-m", "localstack.runtime.main"]).envs(localstack_env(port, root.path()));
            let mut child = spawn_logged(cmd, &root.path().join("localstack.log"));
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if healthy(&endpoint) {
                    if !cache.exists() {
                        let _ = std::fs::create_dir_all(&cache);
                        for e in std::fs::read_dir(&cache_dir).into_iter().flatten().flatten() {
                            if e.file_name().to_string_lossy().starts_with("service-catalog") {
                                let _ = std::fs::copy(e.path(), cache.join(e.file_name()));
                            }
                        }
                    }
                    return LocalStack { endpoint, child: Some(child), _root: Some(root) };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken, most likely: try another
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("LocalStack did not start:\n{}", std::fs::read_to_string(root.path().join("localstack.log")).unwrap_or_default());
        }
        panic!("LocalStack did not start in 3 tries");
    }
}

/// The settings of localstack-on-host.md: no Docker, nothing outside its own folder, S3, SQS,
/// Secrets Manager and KMS only, presigned URLs checked.
pub fn localstack_env(port: u16, root: &std::path::Path) -> Vec<(String, String)> {
    [
        ("OVERRIDE_IN_DOCKER", "0".to_string()),
        ("DNS_ADDRESS", "0".to_string()),
        ("GATEWAY_LISTEN", format!("127.0.0.1:{port}")),
        ("LOCALSTACK_HOST", format!("127.0.0.1:{port}")),
        ("SERVICES", "s3,sqs,secretsmanager,kms".to_string()),
        ("EAGER_SERVICE_LOADING", "1".to_string()),
        ("S3_SKIP_SIGNATURE_VALIDATION", "0".to_string()),
        ("SQS_ENDPOINT_STRATEGY", "path".to_string()),
        ("DISABLE_EVENTS", "1".to_string()),
        ("SKIP_SSL_CERT_DOWNLOAD", "1".to_string()),
        ("FILESYSTEM_ROOT", root.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One test's bucket and queues.
#[derive(Clone, Debug)]
pub struct Resources {
    pub endpoint: String,
    pub bucket: String,
    pub queue_url: String,
    /// The interactive lane's queue (used when a test turns lanes on).
    pub interactive_url: String,
    pub dlq_url: String,
    /// Webhook deliveries (used when a test turns webhooks on).
    pub webhook_url: String,
}

/// Creates a bucket and a queue with its DLQ, running `infra/localstack/init/ready.d/reportq-init.py`.
/// The environment of a `reportq serve` / `reportq worker` process on these resources, the API
/// listening on `port`, plus `extra` settings.
pub fn process_env(res: &Resources, port: u16, extra: &[(&str, String)]) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", res.endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("REPORTQ_BUCKET", res.bucket.clone()),
        ("REPORTQ_QUEUE_URL", res.queue_url.clone()),
        ("REPORTQ_LISTEN", format!("127.0.0.1:{port}")),
        ("REPORTQ_POLL_WAIT_SECS", "1".into()),
    ]
    .into_iter()
    .chain(extra.iter().cloned())
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

pub fn resources(endpoint: &str, visibility_secs: u32, max_receive: u32) -> Resources {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let out = Command::new(python())
        .arg(repo().join("infra/localstack/init/ready.d/reportq-init.py"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("REPORTQ_BUCKET", format!("rq-test-{tag}"))
        .env("REPORTQ_QUEUE_NAME", format!("rq-test-{tag}"))
        .env("REPORTQ_VISIBILITY_TIMEOUT_SECS", visibility_secs.to_string())
        .env("REPORTQ_MAX_RECEIVE_COUNT", max_receive.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "init script failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap().to_string();
    Resources {
        endpoint: endpoint.to_string(),
        bucket: get("REPORTQ_BUCKET"),
        queue_url: get("REPORTQ_QUEUE_URL"),
        interactive_url: get("REPORTQ_INTERACTIVE_QUEUE_URL"),
        dlq_url: get("REPORTQ_DLQ_URL"),
        webhook_url: get("REPORTQ_WEBHOOK_QUEUE_URL"),
    }
}

/// SDK config for the emulator at `endpoint`: test credentials, quick timeouts, few retries.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(2)).operation_attempt_timeout(Duration::from_secs(30)).build())
        .load()
        .await
}

pub async fn clients(endpoint: &str) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    reportq::aws::clients_from(&sdk_config(endpoint).await)
}

/// Messages waiting in a queue (visible and in flight).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (i64, i64) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes().cloned().unwrap_or_default();
    let n = |a: A| attrs.get(&a).and_then(|v| v.parse().ok()).unwrap_or(0);
    (n(A::ApproximateNumberOfMessages), n(A::ApproximateNumberOfMessagesNotVisible))
}

pub async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    reportq::store::S3Store::new(s3.clone(), bucket).list("").await.unwrap()
}

/// Every job the bucket holds: own records and batch items not yet written on their own
/// (the store's own enumeration, as the sweep sees it).
pub async fn stored_jobs(s3: &aws_sdk_s3::Client, bucket: &str) -> usize {
    use reportq::store::JobStore;
    reportq::store::S3Store::new(s3.clone(), bucket).jobs_written_before(i64::MAX).await.unwrap().len()
}

/// What the proxy does to traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// Forward everything.
    None = 0,
    /// Cut every connection, new or open (a refused or reset connection: S3 or SQS down).
    Refuse = 1,
    /// Forward nothing until the stall ends, then carry on (a slow or congested link).
    Stall = 2,
    /// Swallow everything, for good: a connection that carries a byte (or opens) while this
    /// lasts is never answered and never closed, as when packets are dropped on the way.
    Blackhole = 3,
}

impl Fault {
    fn from_u8(v: u8) -> Fault {
        match v {
            1 => Fault::Refuse,
            2 => Fault::Stall,
            3 => Fault::Blackhole,
            _ => Fault::None,
        }
    }
}

/// A TCP proxy in front of LocalStack that a test can make fail (see [`Fault`]).
pub struct FaultProxy {
    pub endpoint: String,
    mode: Arc<std::sync::atomic::AtomicU8>,
    /// Connections accepted so far (proof that traffic goes through the proxy).
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl FaultProxy {
    pub async fn start(target: &str) -> FaultProxy {
        use std::sync::atomic::{AtomicU8, AtomicUsize};
        let target = target.trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(Fault::None as u8));
        let connections = Arc::new(AtomicUsize::new(0));
        let (m, count) = (mode.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                let m = m.clone();
                tokio::spawn(async move {
                    let now = || Fault::from_u8(m.load(Ordering::SeqCst));
                    match now() {
                        Fault::Refuse => return,
                        Fault::Blackhole => return std::future::pending::<()>().await,
                        _ => {}
                    }
                    while now() == Fault::Stall {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else { return };
                    let holed = AtomicBool::new(false);
                    let (mut cr, mut cw) = client.split();
                    let (mut sr, mut sw) = server.split();
                    // Ok(()) to go on forwarding, Err(()) to cut the connection; never returns
                    // once the connection fell into a black hole.
                    let gate = || async {
                        loop {
                            match now() {
                                _ if holed.load(Ordering::SeqCst) => std::future::pending::<()>().await,
                                Fault::None => return Ok(()),
                                Fault::Refuse => return Err(()),
                                Fault::Stall => tokio::time::sleep(Duration::from_millis(20)).await,
                                Fault::Blackhole => holed.store(true, Ordering::SeqCst),
                            }
                        }
                    };
                    let up = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = cr.read(&mut buf).await.unwrap_or(0);
                            if n == 0 || gate().await.is_err() || sw.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let down = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = sr.read(&mut buf).await.unwrap_or(0);
                            if n == 0 || gate().await.is_err() || cw.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    tokio::select! { _ = up => {}, _ = down => {} }
                });
            }
        });
        FaultProxy { endpoint, mode, connections }
    }

    /// Cuts every connection while `on` (the proxy's original switch).
    pub fn fail(&self, on: bool) {
        self.set(if on { Fault::Refuse } else { Fault::None });
    }

    pub fn set(&self, fault: Fault) {
        self.mode.store(fault as u8, Ordering::SeqCst);
    }
}

/// Starts `cmd` with stdin closed and stdout/stderr in `log`; the child dies with the test
/// process, even one killed by a timeout.
pub fn spawn_logged(mut cmd: Command, log: &Path) -> std::process::Child {
    let f = std::fs::File::create(log).unwrap();
    cmd.stdin(Stdio::null()).stdout(f.try_clone().unwrap()).stderr(f);
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program()))
}
