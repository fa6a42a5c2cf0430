//! The soak: N reports through the real `reportq serve` and several `reportq worker`
//! processes against LocalStack, with faults injected while it runs, then an audit of
//! everything in the bucket and the queues. `tests/soak.rs` runs a short one, `examples/soak.rs`
//! the full one; both only talk to 127.0.0.1, and every loop here is bounded in count and time.
//!
//! Faults (when on), one every `fault_every` finished jobs, in turn:
//! - **duplicate**: a queued job's message sent twice more, both at once;
//! - **kill**: a worker process killed with SIGKILL while its TeX child runs (a replacement is
//!   started); its jobs come back after the visibility timeout;
//! - **refuse** / **stall** / **blackhole**: the proxy between the workers and LocalStack
//!   (S3 and SQS) cuts, holds, or silently swallows connections for a few seconds;
//! - throughout: a few requests carry a marker that makes the test's TeX child wrapper spin
//!   for ever (the render deadline must stop it and the same process must render on), and a
//!   few job records name a template this version does not have (an older API's records).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{Value, json};
use sha2::Digest;
use uuid::Uuid;

use super::aws::{self, Fault, FaultProxy, LocalStack};

/// Text that makes the soak's TeX child wrapper loop for ever; no user can reach it.
pub const LOOP_MARKER: &str = "ZzSoakRenderNeverEndsZz";

#[derive(Debug, Clone)]
pub struct SoakOpts {
    /// Jobs submitted through the API (the injected bad records come on top).
    pub jobs: usize,
    /// `reportq worker` processes at once.
    pub workers: usize,
    pub faults: bool,
    /// The whole run's limit, submissions to audit.
    pub deadline: Duration,
    /// Requests per batch submit; every third submit is a batch, the others single requests.
    pub batch: usize,
    /// Jobs submitted but not finished at most (the API is not left far ahead of the workers).
    pub backlog: usize,
    /// A fault after every this many finished jobs.
    pub fault_every: usize,
    /// Requests that make TeX loop (they must end `failed` with `render_timeout`).
    pub loops: usize,
    /// Job records with a retired template, written straight to the bucket.
    pub bad_records: usize,
    pub visibility_secs: u32,
    pub job_deadline_secs: u32,
    pub render_timeout_secs: u32,
    pub max_receive: u32,
    /// Jobs at once per worker process.
    pub worker_concurrency: usize,
    /// The reportq binary (workers, API, and the real TeX child behind the wrapper).
    pub exe: PathBuf,
    /// Logs and the wrapper go here (kept when the run fails).
    pub dir: PathBuf,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

impl SoakOpts {
    /// Defaults for `jobs`, overridden by SOAK_* variables.
    pub fn new(exe: PathBuf, jobs: usize) -> SoakOpts {
        let jobs = env_or("SOAK_JOBS", jobs);
        SoakOpts {
            jobs,
            workers: env_or("SOAK_WORKERS", 2usize).max(1),
            faults: env_or("SOAK_FAULTS", 1u8) != 0,
            deadline: Duration::from_secs(env_or("SOAK_DEADLINE_SECS", 240 + jobs as u64 / 2)),
            batch: env_or("SOAK_BATCH", 20usize).clamp(1, 1000),
            backlog: env_or("SOAK_BACKLOG", 120usize).max(10),
            fault_every: env_or("SOAK_FAULT_EVERY", (jobs / 25).max(12)),
            loops: env_or("SOAK_LOOPS", (jobs / 1000).clamp(2, 10)),
            bad_records: env_or("SOAK_BAD_RECORDS", 2usize),
            visibility_secs: env_or("SOAK_VISIBILITY_SECS", 15u32),
            job_deadline_secs: env_or("SOAK_JOB_DEADLINE_SECS", 10u32),
            render_timeout_secs: env_or("SOAK_RENDER_TIMEOUT_SECS", 5u32),
            max_receive: env_or("SOAK_MAX_RECEIVE", 5u32),
            worker_concurrency: env_or("SOAK_WORKER_CONCURRENCY", 2usize).max(1),
            exe,
            dir: std::env::temp_dir().join(format!("reportq-soak-{}", &Uuid::new_v4().simple().to_string()[..8])),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Succeed,
    Fail(&'static str),
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

/// What the run found.
#[derive(Debug, Default)]
pub struct SoakReport {
    pub jobs: usize,
    pub succeeded: usize,
    pub failed_expected: usize,
    pub dead_lettered: usize,
    pub lost: usize,
    pub duplicates: usize,
    pub stuck: usize,
    pub bad_objects: usize,
    pub orphans: usize,
    pub retried_jobs: usize,
    pub faults: Vec<(String, usize)>,
    pub wall: Duration,
    pub throughput_per_min: f64,
    pub api_single_ms: (f64, f64, usize),
    pub api_batch_ms: (f64, f64, usize),
    pub queue_wait_s: (f64, f64),
    pub violations: Vec<String>,
    pub notes: Vec<String>,
}

impl SoakReport {
    pub fn fault(&self, kind: &str) -> usize {
        self.faults.iter().find(|(k, _)| k == kind).map(|(_, n)| *n).unwrap_or(0)
    }

    pub fn print(&self) {
        let faults: Vec<String> = self.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("================ soak summary ================");
        println!("jobs                      {}", self.jobs);
        println!("  succeeded               {}", self.succeeded);
        println!("  failed as expected      {}", self.failed_expected);
        println!("  dead-lettered (failed)  {}", self.dead_lettered);
        println!("  lost                    {}", self.lost);
        println!("  duplicates              {}", self.duplicates);
        println!("  not final (stuck)       {}", self.stuck);
        println!("  bad/partial objects     {}", self.bad_objects);
        println!("  orphan objects          {}", self.orphans);
        println!("  jobs retried (attempts>1) {}", self.retried_jobs);
        println!("faults injected           {}", faults.join(", "));
        println!("wall time                 {:.1} s", self.wall.as_secs_f64());
        println!("throughput                {:.0} reports/min", self.throughput_per_min);
        println!("API POST /v1/reports      p50 {:.1} ms, p99 {:.1} ms ({} calls)", self.api_single_ms.0, self.api_single_ms.1, self.api_single_ms.2);
        println!("API POST /v1/reports/batch p50 {:.1} ms, p99 {:.1} ms ({} calls)", self.api_batch_ms.0, self.api_batch_ms.1, self.api_batch_ms.2);
        println!("queue wait (submit->claim) p50 {:.2} s, p99 {:.2} s", self.queue_wait_s.0, self.queue_wait_s.1);
        for n in &self.notes {
            println!("note: {n}");
        }
        for v in &self.violations {
            println!("VIOLATION: {v}");
        }
        println!("result: {}", if self.violations.is_empty() { "PASS" } else { "FAIL" });
    }
}

/// A child process, killed (SIGKILL) when dropped.
/// A child process killed when dropped; its output goes to `log`.
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn(exe: &Path, arg: &str, env: &[(String, String)], log: PathBuf) -> Proc {
    let mut cmd = Command::new(exe);
    cmd.arg(arg).envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Proc { child: aws::spawn_logged(cmd, &log), log }
}

/// Children of `pid` (from /proc).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        if rest.split_whitespace().nth(1).and_then(|s| s.parse::<u32>().ok()) == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// The TeX child wrapper: passes every input to the real child, except one holding the
/// marker, on which it spins for ever. The child's input is binary (the job's files framed
/// with their lengths, then the document), so perl holds it, not a shell variable; it cannot go
/// through a file either (the child's file-size limit is zero): a forked feeder hands it on
/// through a pipe, and the wrapper becomes the real child, so the renderer's pid is the child's.
fn write_wrapper(dir: &Path, exe: &Path) -> PathBuf {
    let path = dir.join("tex-child-wrapper.pl");
    let script = format!(
        "#!/usr/bin/perl\n\
         # Written by the soak test: a render that never ends exists only here.\n\
         binmode STDIN;\n\
         my $input = do {{ local $/; <STDIN> }};\n\
         if (index($input, '{LOOP_MARKER}') >= 0) {{ 1 while 1; }}\n\
         pipe(my $r, my $w) or die \"pipe: $!\";\n\
         my $feeder = fork() // die \"fork: $!\";\n\
         if ($feeder == 0) {{ close $r; binmode $w; print $w $input; close $w; exit 0; }}\n\
         close $w;\n\
         open(STDIN, '<&', $r) or die \"stdin: $!\";\n\
         exec {{ '{exe}' }} '{exe}', @ARGV or die \"exec: $!\";\n",
        exe = exe.display()
    );
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn request(i: usize, looping: bool) -> Value {
    if looping {
        return json!({"template": "summary", "params": {"title": format!("Soak loop {i}"), "sections": [
            {"heading": "Never ends", "paragraphs": [format!("This text holds {LOOP_MARKER}, which only the soak's TeX wrapper knows.")]}
        ]}});
    }
    if i.is_multiple_of(2) {
        json!({"template": "summary", "params": {"title": format!("Soak report {i}"), "author": "Soak", "sections": [
            {"heading": "Numbers", "paragraphs": [format!("Report number {i} of the soak run.")],
             "tables": [{"header": ["Item", "Count"], "rows": [["a", format!("{i}")], ["b", "2"]]}]}
        ]}})
    } else {
        let mut v: Value = serde_json::from_slice(&std::fs::read(aws::repo().join("tests/fixtures/diagram-small.json")).unwrap()).unwrap();
        v["params"]["organisation"] = json!(format!("Soak Archive {i}"));
        v
    }
}

/// What the worker logs say, read as they grow.
#[derive(Default)]
struct Logs {
    offsets: HashMap<PathBuf, u64>,
    /// Per job: (log file, line number, outcome word, detail) for each final outcome line.
    outcomes: HashMap<Uuid, Vec<(PathBuf, usize, String, String)>>,
    /// Per job: claims (log file, ms).
    claims: HashMap<Uuid, Vec<(PathBuf, u128)>>,
    lines: HashMap<PathBuf, usize>,
    /// Jobs with a final outcome line (Rendered, Recovered, Failed, marked failed).
    finished: HashSet<Uuid>,
    /// Lines saying an uploaded PDF differed from one already there (a render that is not
    /// deterministic).
    replaced: Vec<String>,
}

impl Logs {
    fn read(&mut self, path: &Path) {
        let Ok(mut f) = std::fs::File::open(path) else { return };
        let off = self.offsets.get(path).copied().unwrap_or(0);
        if f.seek(std::io::SeekFrom::Start(off)).is_err() {
            return;
        }
        let mut buf = String::new();
        let _ = f.read_to_string(&mut buf);
        // Only whole lines; the rest is read next time.
        let Some(end) = buf.rfind('\n') else { return };
        self.offsets.insert(path.to_path_buf(), off + end as u64 + 1);
        for line in buf[..end].lines() {
            let n = self.lines.entry(path.to_path_buf()).or_default();
            *n += 1;
            let lineno = *n;
            // Workers log one JSON object a line (`reportq::logging`): read the events, not text.
            let Ok(ev) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let id: Option<Uuid> = ev["job_id"].as_str().and_then(|s| s.parse().ok());
            match (ev["message"].as_str().unwrap_or(""), id) {
                ("report existed with another hash; replacing it", _) => self.replaced.push(line.to_string()),
                ("job claimed", Some(id)) => {
                    if let Some(ms) = ev["claimed_ms"].as_u64() {
                        self.claims.entry(id).or_default().push((path.to_path_buf(), ms as u128));
                    }
                }
                ("job marked failed (retries_exhausted)", Some(id)) => {
                    self.finished.insert(id);
                    self.outcomes.entry(id).or_default().push((path.to_path_buf(), lineno, "MarkedFailed".into(), line.into()));
                }
                ("message handled", Some(id)) => {
                    let word = ev["outcome"].as_str().unwrap_or("").to_string();
                    if ["Rendered", "Recovered", "Failed"].contains(&word.as_str()) {
                        self.finished.insert(id);
                        self.outcomes.entry(id).or_default().push((path.to_path_buf(), lineno, word, line.into()));
                    }
                }
                _ => {}
            }
        }
    }
}

struct Run {
    opts: SoakOpts,
    worker_env: Vec<(String, String)>,
    workers: Vec<Proc>,
    retired: Vec<Proc>,
    next_log: usize,
    logs: Logs,
    faults: HashMap<&'static str, usize>,
    killed_inflight: Vec<Uuid>,
    dups: Vec<Uuid>,
}

impl Run {
    fn spawn_worker(&mut self) {
        let log = self.opts.dir.join(format!("worker-{}.log", self.next_log));
        self.next_log += 1;
        self.workers.push(spawn(&self.opts.exe, "worker", &self.worker_env, log));
    }

    fn refresh(&mut self) {
        let paths: Vec<PathBuf> = self.workers.iter().chain(&self.retired).map(|p| p.log.clone()).collect();
        for p in paths {
            self.logs.read(&p);
        }
    }

    /// SIGKILL a worker while its TeX child runs; start another in its place.
    async fn kill_one(&mut self, which: usize) -> bool {
        let i = which % self.workers.len();
        let pid = self.workers[i].child.id();
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if !children(pid).is_empty() {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                let _ = self.workers[i].child.wait();
                let dead = self.workers.remove(i);
                self.logs.read(&dead.log);
                // In flight: claimed by that process and not finished.
                let inflight: Vec<Uuid> = self
                    .logs
                    .claims
                    .iter()
                    .filter(|(id, cl)| cl.iter().any(|(p, _)| p == &dead.log) && !self.logs.finished.contains(id))
                    .map(|(id, _)| *id)
                    .collect();
                eprintln!("soak: killed worker {pid} mid-render; in flight: {inflight:?}");
                self.killed_inflight.extend(inflight);
                self.retired.push(dead);
                self.spawn_worker();
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

pub async fn run(opts: SoakOpts) -> SoakReport {
    std::fs::create_dir_all(&opts.dir).unwrap();
    let t0 = Instant::now();
    let ls = LocalStack::start();
    let res = aws::resources(&ls.endpoint, opts.visibility_secs, opts.max_receive);
    let proxy = FaultProxy::start(&ls.endpoint).await;
    let (s3, sqs) = aws::clients(&ls.endpoint).await;
    use reportq::queue::JobQueue;
    use reportq::store::JobStore;
    let store = reportq::store::S3Store::new(s3.clone(), res.bucket.clone());
    let queue = reportq::queue::SqsQueue::new(sqs.clone(), res.queue_url.clone());
    // A copy of the binary: a rebuild while the soak runs must not change (or remove, for a
    // moment) what the workers and every TeX child execute.
    let mut opts = opts;
    let exe = opts.dir.join("reportq");
    std::fs::copy(&opts.exe, &exe).unwrap();
    opts.exe = exe;
    let wrapper = write_wrapper(&opts.dir, &opts.exe);

    let base_env = |endpoint: &str| -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", endpoint.to_string()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("REPORTQ_BUCKET", res.bucket.clone()),
            ("REPORTQ_QUEUE_URL", res.queue_url.clone()),
            ("REPORTQ_MAX_RECEIVE_COUNT", opts.max_receive.to_string()),
            ("REPORTQ_JOB_DEADLINE_SECS", opts.job_deadline_secs.to_string()),
            ("REPORTQ_RENDER_TIMEOUT_SECS", opts.render_timeout_secs.to_string()),
            ("REPORTQ_POLL_WAIT_SECS", "2".into()),
            ("REPORTQ_LOG_FORMAT", "json".into()),
            ("REPORTQ_WORKER_CONCURRENCY", opts.worker_concurrency.to_string()),
            ("REPORTQ_RENDER_CONCURRENCY", "1".into()),
            ("REPORTQ_TEX_CHILD", wrapper.display().to_string()),
            ("REPORTQ_DIAGRAM_MODEL", aws::repo().join("tests/fixtures/diagram-like.bif").display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    };

    // The API, straight to LocalStack.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut api_env = base_env(&ls.endpoint);
    api_env.push(("REPORTQ_LISTEN".into(), format!("127.0.0.1:{port}")));
    let _api = spawn(&opts.exe, "serve", &api_env, opts.dir.join("api.log"));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < end, "reportq serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Workers, through the fault proxy.
    let mut run = Run {
        worker_env: base_env(&proxy.endpoint),
        opts: opts.clone(),
        workers: Vec::new(),
        retired: Vec::new(),
        next_log: 0,
        logs: Logs::default(),
        faults: HashMap::new(),
        killed_inflight: Vec::new(),
        dups: Vec::new(),
    };
    for _ in 0..opts.workers {
        run.spawn_worker();
    }
    eprintln!(
        "soak: {} jobs, {} workers, faults {}, LocalStack {}, proxy {}, logs in {}",
        opts.jobs,
        opts.workers,
        if opts.faults { "on" } else { "off" },
        ls.endpoint,
        proxy.endpoint,
        opts.dir.display()
    );

    // Which requests loop: spread over the run.
    let loop_at: HashSet<usize> = (0..opts.loops.min(opts.jobs)).map(|k| (2 * k + 1) * opts.jobs / (2 * opts.loops.max(1))).collect();
    let mut expect: HashMap<Uuid, Expect> = HashMap::new();
    let mut submitted_ms: HashMap<Uuid, u128> = HashMap::new();
    let mut lat_single = Vec::new();
    let mut lat_batch = Vec::new();
    let mut recent: Vec<Uuid> = Vec::new();
    let t_submit = Instant::now();
    let mut i = 0usize;
    let mut unit = 0usize;
    let mut next_fault = opts.fault_every;
    let mut fault_no = 0usize;
    let mut last_progress = Instant::now();
    let run_end = t0 + opts.deadline;
    let mut t_done = None;

    // Bad records: as an older API version would have left them.
    for _ in 0..opts.bad_records {
        let id = Uuid::new_v4();
        let bad = reportq::domain::job::Job::new(id, None, "retired", json!({"template": "retired", "params": {}}), reportq::domain::now_epoch());
        assert!(store.create_job(&bad).await.unwrap());
        queue.send(&reportq::queue::JobMessage::bulk(id)).await.unwrap();
        expect.insert(id, Expect::Fail("invalid_params"));
        submitted_ms.insert(id, now_ms());
    }

    loop {
        run.refresh();
        let finished = expect.keys().filter(|id| run.logs.finished.contains(id)).count();
        if i >= opts.jobs && finished == expect.len() {
            t_done = Some(t_submit.elapsed());
            break;
        }
        if Instant::now() > run_end {
            eprintln!("soak: deadline reached with {finished} of {} jobs finished", expect.len());
            break;
        }
        if last_progress.elapsed() > Duration::from_secs(30) {
            last_progress = Instant::now();
            eprintln!("soak: {:.0} s: submitted {i}/{}, finished {finished}, faults {:?}", t0.elapsed().as_secs_f64(), opts.jobs, run.faults);
        }
        // Faults, on progress.
        if opts.faults && finished >= next_fault && i < opts.jobs + opts.jobs / 10 {
            next_fault += opts.fault_every;
            let kinds = ["duplicate", "kill", "refuse", "stall", "blackhole"];
            let kind = kinds[fault_no % kinds.len()];
            fault_no += 1;
            match kind {
                "duplicate" => {
                    // A job still queued (submitted last), delivered twice more at once.
                    if let Some(&id) = recent.last() {
                        let m = reportq::queue::JobMessage::bulk(id);
                        let (a, b) = tokio::join!(queue.send(&m), queue.send(&m));
                        a.unwrap();
                        b.unwrap();
                        run.dups.push(id);
                        *run.faults.entry("duplicate").or_default() += 1;
                    }
                }
                "kill" => {
                    if run.kill_one(fault_no).await {
                        *run.faults.entry("kill").or_default() += 1;
                    }
                }
                _ => {
                    let f = match kind {
                        "refuse" => Fault::Refuse,
                        "stall" => Fault::Stall,
                        _ => Fault::Blackhole,
                    };
                    proxy.set(f);
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    proxy.set(Fault::None);
                    *run.faults.entry(kind).or_default() += 1;
                }
            }
            continue;
        }
        if i < opts.jobs && i.saturating_sub(finished) < opts.backlog {
            let n = if unit % 3 == 2 { opts.batch.min(opts.jobs - i) } else { 1 };
            unit += 1;
            let reqs: Vec<(usize, Value)> = (i..i + n).map(|k| (k, request(k, loop_at.contains(&k)))).collect();
            let t = Instant::now();
            let ids: Vec<Uuid> = if n == 1 {
                let r = http.post(format!("{base}/v1/reports")).json(&reqs[0].1).send().await.unwrap();
                lat_single.push(t.elapsed().as_secs_f64() * 1e3);
                assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
                vec![r.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().parse().unwrap()]
            } else {
                let body = json!({"requests": reqs.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()});
                let r = http.post(format!("{base}/v1/reports/batch")).json(&body).send().await.unwrap();
                lat_batch.push(t.elapsed().as_secs_f64() * 1e3);
                assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
                let v: Value = r.json().await.unwrap();
                v["job_ids"].as_array().unwrap().iter().map(|j| j.as_str().unwrap().parse().unwrap()).collect()
            };
            let ms = now_ms();
            for ((k, _), id) in reqs.iter().zip(&ids) {
                expect.insert(*id, if loop_at.contains(k) { Expect::Fail("render_timeout") } else { Expect::Succeed });
                submitted_ms.insert(*id, ms);
            }
            recent = ids;
            i += n;
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let wall = t_done.unwrap_or_else(|| t_submit.elapsed());

    // Let stray duplicate messages drain (bounded), then stop the workers.
    let drain_end = Instant::now() + Duration::from_secs(2 * opts.visibility_secs as u64 + 10);
    while Instant::now() < drain_end && aws::queue_depth(&sqs, &res.queue_url).await != (0, 0) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let depth = aws::queue_depth(&sqs, &res.queue_url).await;
    run.refresh();
    let faults: Vec<(String, usize)> = {
        let mut f: Vec<(String, usize)> = run.faults.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        f.push(("loop_render".into(), loop_at.len()));
        f.push(("bad_record".into(), opts.bad_records));
        f.sort();
        f
    };
    run.workers.clear();

    let mut rep = SoakReport { jobs: expect.len(), wall, faults, ..Default::default() };
    audit(&mut rep, &store, &sqs, &res, &expect, &run).await;
    if depth != (0, 0) {
        rep.notes.push(format!("job queue not empty at the end (visible, in flight) = {depth:?}"));
    }
    lat_single.sort_by(f64::total_cmp);
    lat_batch.sort_by(f64::total_cmp);
    rep.api_single_ms = (pct(&lat_single, 0.5), pct(&lat_single, 0.99), lat_single.len());
    rep.api_batch_ms = (pct(&lat_batch, 0.5), pct(&lat_batch, 0.99), lat_batch.len());
    let mut waits: Vec<f64> = expect
        .keys()
        .filter_map(|id| {
            let first = run.logs.claims.get(id)?.iter().map(|(_, ms)| *ms).min()?;
            Some((first as f64 - *submitted_ms.get(id)? as f64) / 1e3)
        })
        .collect();
    waits.sort_by(f64::total_cmp);
    rep.queue_wait_s = (pct(&waits, 0.5), pct(&waits, 0.99));
    rep.throughput_per_min = rep.succeeded as f64 / wall.as_secs_f64() * 60.0;
    rep.notes.push(format!(
        "settings: {} worker processes x {} jobs, 1 TeX child each; visibility {} s, job deadline {} s, render timeout {} s, maxReceiveCount {}; backlog {}; batch size {}; proxy connections {}",
        opts.workers,
        opts.worker_concurrency,
        opts.visibility_secs,
        opts.job_deadline_secs,
        opts.render_timeout_secs,
        opts.max_receive,
        opts.backlog,
        opts.batch,
        proxy.connections.load(std::sync::atomic::Ordering::SeqCst)
    ));
    if rep.violations.is_empty() {
        let _ = std::fs::remove_dir_all(&opts.dir);
    } else {
        rep.notes.push(format!("logs kept in {}", opts.dir.display()));
    }
    rep
}

async fn audit(
    rep: &mut SoakReport,
    store: &reportq::store::S3Store,
    sqs: &aws_sdk_sqs::Client,
    res: &aws::Resources,
    expect: &HashMap<Uuid, Expect>,
    run: &Run,
) {
    use reportq::domain::job::{Job, Status};
    use reportq::store::keys;
    let keys = store.list("").await.unwrap();
    let mut job_keys = HashSet::new();
    let mut report_keys = HashSet::new();
    for k in &keys {
        if let Some(id) = k.strip_prefix("jobs/").and_then(|r| r.strip_suffix(".json")).and_then(|s| s.parse::<Uuid>().ok()) {
            job_keys.insert(id);
        } else if let Some(id) = k.strip_prefix("reports/").and_then(|r| r.strip_suffix(".pdf")).and_then(|s| s.parse::<Uuid>().ok()) {
            report_keys.insert(id);
        } else if !(k.starts_with("batches/") || k.starts_with("idempotency/")) {
            rep.violations.push(format!("unexpected object {k}"));
        }
    }
    for id in job_keys.difference(&expect.keys().copied().collect()) {
        rep.violations.push(format!("job record {id} that nobody submitted"));
    }
    for id in report_keys.iter().filter(|id| !job_keys.contains(id)) {
        rep.orphans += 1;
        rep.violations.push(format!("report object reports/{id}.pdf without a job"));
    }

    // The DLQ: every message names a finished job.
    let mut dlq: HashMap<Uuid, usize> = HashMap::new();
    for _ in 0..1000 {
        let out = sqs.receive_message().queue_url(&res.dlq_url).max_number_of_messages(10).wait_time_seconds(1).send().await.unwrap();
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            match serde_json::from_str::<reportq::queue::JobMessage>(m.body().unwrap_or("")) {
                Ok(msg) => *dlq.entry(msg.job_id).or_default() += 1,
                Err(_) => rep.violations.push(format!("DLQ message that is not a job message: {:?}", m.body())),
            }
            if let Some(h) = m.receipt_handle() {
                let _ = sqs.delete_message().queue_url(&res.dlq_url).receipt_handle(h).send().await;
            }
        }
    }

    // Every job record and every report, read back.
    let ids: Vec<Uuid> = expect.keys().copied().collect();
    let fetched: Vec<(Uuid, Option<Job>, Option<Vec<u8>>)> = futures::stream::iter(ids)
        .map(|id| {
            let store = store.clone();
            let has_pdf = report_keys.contains(&id);
            async move {
                let job = store.get_json::<Job>(&keys::job(id)).await.unwrap().map(|(j, _)| j);
                let pdf = if has_pdf { store.get(&keys::report(id)).await.unwrap().map(|o| o.bytes) } else { None };
                (id, job, pdf)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let empty = Vec::new();
    for (id, job, pdf) in fetched {
        let outcomes = run.logs.outcomes.get(&id).unwrap_or(&empty);
        let completions = outcomes.iter().filter(|(_, _, w, _)| w == "Rendered" || w == "Recovered").count();
        let Some(job) = job else {
            rep.lost += 1;
            rep.violations.push(format!("job {id}: no record (lost)"));
            continue;
        };
        if job.attempts > 1 {
            rep.retried_jobs += 1;
        }
        if completions > 1 {
            rep.duplicates += 1;
            rep.violations.push(format!("job {id}: completed {completions} times: {outcomes:?}"));
        }
        let want = &expect[&id];
        match job.status {
            Status::Queued | Status::Running => {
                rep.stuck += 1;
                rep.violations.push(format!("job {id}: still {:?} (attempts {})", job.status, job.attempts));
            }
            Status::Succeeded => {
                if *want != Expect::Succeed {
                    rep.violations.push(format!("job {id}: succeeded, expected {want:?}"));
                }
                rep.succeeded += 1;
                if completions == 0 && run.killed_inflight.is_empty() {
                    rep.violations.push(format!("job {id}: succeeded but no worker logged finishing it"));
                }
                let out = job.output.as_ref();
                let ok = match (out, &pdf) {
                    (Some(o), Some(b)) => {
                        let trimmed = b.trim_ascii_end();
                        o.key == keys::report(id)
                            && o.size == b.len() as u64
                            && o.sha256 == hex::encode(sha2::Sha256::digest(b))
                            && b.starts_with(b"%PDF-")
                            && trimmed.ends_with(b"%%EOF")
                    }
                    _ => false,
                };
                if !ok {
                    rep.bad_objects += 1;
                    rep.violations.push(format!(
                        "job {id}: report missing, partial or not matching its record ({:?}, {} bytes)",
                        out,
                        pdf.as_ref().map_or(0, |b| b.len())
                    ));
                }
            }
            Status::Failed => {
                let code = job.error.as_ref().map(|e| e.code.as_str()).unwrap_or("");
                let msg_ok = job.error.as_ref().is_some_and(|e| !e.message.is_empty());
                match want {
                    Expect::Fail(c) if *c == code && msg_ok => rep.failed_expected += 1,
                    Expect::Succeed if code == "retries_exhausted" && dlq.contains_key(&id) => rep.dead_lettered += 1,
                    _ => rep.violations.push(format!("job {id}: failed with {:?}, expected {want:?}", job.error)),
                }
                if pdf.is_some() {
                    rep.notes.push(format!("job {id}: failed ({code}) but reports/{id}.pdf exists"));
                }
            }
        }
        if let Some(n) = dlq.get(&id)
            && !job.status.is_final()
        {
            rep.violations.push(format!("job {id}: {n} message(s) in the DLQ but the job is {:?}", job.status));
        }
    }
    for id in dlq.keys().filter(|id| !expect.contains_key(id)) {
        rep.violations.push(format!("DLQ message for unknown job {id}"));
    }
    if !dlq.is_empty() {
        rep.notes.push(format!("DLQ: {} message(s) for {} job(s)", dlq.values().sum::<usize>(), dlq.len()));
    }

    for l in &run.logs.replaced {
        rep.violations.push(format!("a retried render wrote different bytes: {l}"));
    }

    // The never-ending renders: stopped, reported, and the same process rendered on.
    for (id, want) in expect {
        if *want != Expect::Fail("render_timeout") {
            continue;
        }
        let Some((log, line, _, failed_line)) = run.logs.outcomes.get(id).and_then(|o| o.iter().find(|(_, _, w, _)| w == "Failed")) else {
            rep.violations.push(format!("looping job {id}: no worker logged its failure"));
            continue;
        };
        let later = run.logs.outcomes.values().flatten().any(|(l, n, w, _)| l == log && n > line && w == "Rendered");
        if later {
            rep.notes.push(format!("looping job {id}: render_timeout in {}, which rendered later jobs", log.file_name().unwrap().to_string_lossy()));
        } else if run.retired.iter().any(|p| &p.log == log) {
            rep.notes.push(format!("looping job {id}: render_timeout in {}, killed before its next job", log.file_name().unwrap().to_string_lossy()));
        } else {
            // Nothing rendered afterwards by this worker. That shows it wedged only if there was
            // work it should have had: more renders after its failure than the other workers'
            // slots hold at once. Fewer, and the others' waiting polls can have taken them all
            // (CI saw this: the loop's last attempt came with one or two jobs left).
            let after = renders_after(&run.logs, failed_line);
            let others = run.opts.workers.saturating_sub(1) * run.opts.worker_concurrency;
            let name = log.file_name().unwrap().to_string_lossy();
            if after <= others {
                rep.notes.push(format!("looping job {id}: render_timeout in {name}; {after} render(s) after it, all by the others ({others} slots)"));
            } else {
                rep.violations.push(format!(
                    "looping job {id}: the worker that stopped it ({}) rendered nothing afterwards, while {after} jobs were rendered by the others ({others} slots)",
                    log.display()
                ));
            }
        }
    }
    // Killed mid-render: back after the visibility timeout, finished.
    if !run.killed_inflight.is_empty() {
        rep.notes.push(format!("{} job(s) in flight on killed workers, all checked final above", run.killed_inflight.len()));
    }
    for id in &run.dups {
        let n = run.logs.outcomes.get(id).map_or(0, |o| o.iter().filter(|(_, _, w, _)| w == "Rendered").count());
        rep.notes.push(format!("duplicate-delivered job {id}: rendered {n} time(s)"));
    }
}

/// How many renders (by any worker) came after the moment of `line` (a JSON log line).
fn renders_after(logs: &Logs, line: &str) -> usize {
    let at = |l: &str| serde_json::from_str::<serde_json::Value>(l).ok().and_then(|v| v["timestamp"].as_str().map(str::to_owned));
    // Without a timestamp, count every render: the audit stays strict.
    let t = at(line);
    logs.outcomes.values().flatten().filter(|(_, _, w, l)| w == "Rendered" && t.as_ref().is_none_or(|t| at(l).is_none_or(|u| &u > t))).count()
}
