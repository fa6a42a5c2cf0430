//! A 100,000-line manifest on LocalStack, through real processes: `reportq serve` takes the
//! batch and the upload, and `reportq fanout` (the worker's fan-out, run as a process) is
//! killed twice with SIGKILL part-way, then run to the end. Reports every process's peak
//! memory, the fan-out's rate, and checks that the batch holds exactly one job per line.
//!
//!   cargo run --release --example manifest_bench        (BENCH_LINES=100000)
//!
//! What it skips, honestly: rendering (no worker runs; the jobs stay queued). The bulk
//! queue's backlog limit is raised for the run (REPORTQ_MAX_BACKLOG=10000000), since nothing
//! drains it; with the default the fan-out would pause at 10,000 queued jobs, as it should.

#[path = "../tests/it/common/aws.rs"]
mod aws;

use std::collections::HashSet;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reportq::domain::job::item_id;
use serde_json::{Value, json};
use uuid::Uuid;

fn peak_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

fn line(i: usize, diagram: &Value, summary: &Value) -> Value {
    if i % 3 == 2 {
        let mut v = summary.clone();
        v["params"]["title"] = json!(format!("Annual summary, member {i}"));
        return v;
    }
    let mut v = diagram.clone();
    v["params"]["organisation"] = json!(format!("Member Archive {i}"));
    v["params"]["models"][0]["intellectual_control"] = json!((i % 1000) as f64 / 10.0);
    v["params"]["models"][0]["renderability"] = json!(((i * 7) % 1000) as f64 / 10.0);
    v
}

fn cursor_line(s3: &aws_sdk_s3::Client, bucket: &str, batch: Uuid) -> u64 {
    let rt = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        rt.block_on(async {
            let o = s3.get_object().bucket(bucket).key(format!("batches/{batch}.fanout.json")).send().await.ok()?;
            let v: Value = serde_json::from_slice(&o.body.collect().await.ok()?.into_bytes()).ok()?;
            v["next_line"].as_u64()
        })
    })
    .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: usize = std::env::var("BENCH_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let exe = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("reportq");
    assert!(exe.exists(), "build the reportq binary first ({})", exe.display());
    let root = aws::repo();
    let diagram: Value = serde_json::from_slice(&std::fs::read(root.join("tests/fixtures/diagram-small.json")).unwrap()).unwrap();
    let summary: Value = serde_json::from_slice(&std::fs::read(root.join("examples/summary.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..n {
            serde_json::to_writer(&mut f, &line(i, &diagram, &summary)).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }
    let size = std::fs::metadata(&path).unwrap().len();
    println!("manifest: {n} lines, {:.1} MB", size as f64 / 1e6);

    let ls = aws::LocalStack::start();
    let res = aws::resources(&ls.endpoint, 60, 5);
    let (s3, sqs) = aws::clients(&ls.endpoint).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = aws::process_env(&res, port, &[("REPORTQ_MAX_BACKLOG", "10000000".into()), ("RUST_LOG", "warn".into())]);
    let spawn = |args: &[&str]| -> Child {
        Command::new(&exe).args(args).envs(env.iter().map(|(k, v)| (k, v))).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap()
    };
    let mut serve = spawn(&["serve"]);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let up = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(up.elapsed() < Duration::from_secs(30), "reportq serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Made, uploaded (streamed from the file) and started by the CLI, as a caller would.
    let t = Instant::now();
    let submitted =
        Command::new(&exe).args(["submit", "--batch", "--manifest"]).arg(&path).env("REPORTQ_URL", &base).stderr(Stdio::inherit()).output().unwrap();
    assert!(submitted.status.success(), "reportq submit failed");
    let printed: Value = serde_json::from_slice(&submitted.stdout).unwrap();
    let id: Uuid = printed["batch_id"].as_str().unwrap().parse().unwrap();
    println!("reportq submit --batch --manifest: created, uploaded and started in {:.2} s", t.elapsed().as_secs_f64());

    // The fan-out, killed twice, then to its end.
    let t = Instant::now();
    let mut peaks = Vec::new();
    for (who, after) in [("first", 20u64), ("second", 15)] {
        let mut f = spawn(&["fanout", &id.to_string(), "--lease", "3"]);
        tokio::time::sleep(Duration::from_secs(after)).await;
        let peak = peak_kb(f.id());
        f.kill().unwrap();
        f.wait().unwrap();
        let at = cursor_line(&s3, &res.bucket, id);
        println!("{who} fan-out killed after {after} s at line {at} (peak RSS {:.1} MB)", peak as f64 / 1024.0);
        assert!((at as usize) < n, "killed before the end");
        peaks.push(peak);
    }
    let last = spawn(&["fanout", &id.to_string(), "--lease", "3"]).wait_with_output().unwrap();
    assert!(last.status.success());
    let out: Value = serde_json::from_slice(&last.stdout).unwrap();
    let took = t.elapsed();
    println!(
        "third fan-out ran to the end in {:.1} s (peak RSS {:.1} MB); whole fan-out {:.1} s, {:.0} lines/s including the kills and lease waits",
        out["seconds"].as_f64().unwrap(),
        out["peak_rss_kb"].as_f64().unwrap() / 1024.0,
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    assert_eq!((out["lines"].as_u64(), out["valid"].as_u64(), out["invalid"].as_u64()), (Some(n as u64), Some(n as u64), Some(0)));

    // Exactly one job per line: the chunk records hold every line's id once, and no other.
    let t = Instant::now();
    let store = reportq::store::S3Store::new(s3.clone(), res.bucket.clone());
    let chunks = n.div_ceil(100) as u32;
    let ids = reportq::store::items::batch_items(&store, id, 0..chunks).await.unwrap();
    let distinct: HashSet<Uuid> = ids.iter().copied().collect();
    let want: HashSet<Uuid> = (0..n as u32).map(|i| item_id(id, i)).collect();
    println!("jobs stored: {} ({} distinct; read back in {:.1} s)", ids.len(), distinct.len(), t.elapsed().as_secs_f64());
    assert_eq!(ids.len(), n);
    assert_eq!(distinct, want);
    let queued = aws::queue_depth(&sqs, &res.queue_url).await;
    println!("bulk queue: {} messages (jobs, the start message and any killed chunk's messages sent twice)", queued.0);
    assert!(queued.0 as usize >= n);

    // The API's view, and its memory.
    let t = Instant::now();
    let view: Value = http.get(format!("{base}/v1/batches/{id}?limit=10")).send().await.unwrap().json().await.unwrap();
    println!("GET /v1/batches/{{id}}: total {}, manifest {} ({:.0} ms)", view["total"], view["manifest"], t.elapsed().as_secs_f64() * 1e3);
    assert_eq!(view["total"], n);
    let serve_peak = peak_kb(serve.id());
    serve.kill().unwrap();
    serve.wait().unwrap();
    println!(
        "peak RSS: reportq serve {:.1} MB; fan-outs {:.1} / {:.1} / {:.1} MB",
        serve_peak as f64 / 1024.0,
        peaks[0] as f64 / 1024.0,
        peaks[1] as f64 / 1024.0,
        out["peak_rss_kb"].as_f64().unwrap() / 1024.0
    );
}
