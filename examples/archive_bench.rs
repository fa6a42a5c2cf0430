//! The archive of a 1,000-report batch against LocalStack: how long the build takes and the
//! builder's peak memory (this process's VmHWM, reset just before the build), then the ZIP
//! read back by Python's `zipfile` and every row's sha256 checked against its PDF.
//!
//!   cargo run --release --example archive_bench          (BENCH_REPORTS=1000)
//!
//! What it skips, honestly: rendering 1,000 reports (minutes on 2 cores, and not what is
//! measured). It renders the DiAGRAM example once and stores that PDF, with a distinct
//! trailing comment so that every file differs, as each job's report; the jobs, markers and
//! records are what a worker writes, so the builder reads exactly what it would.

#[path = "../tests/it/common/aws.rs"]
mod aws;

use std::sync::Arc;
use std::time::Instant;

use reportq::domain::job::{Batch, Job, Output, Status, item_id};
use reportq::store::{JobStore, S3Store};
use sha2::{Digest, Sha256};
use uuid::Uuid;

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    reportq::sandbox::maybe_run_child();
    let n: usize = std::env::var("BENCH_REPORTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let exe = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("reportq");
    let dir = tempfile::tempdir().unwrap();
    let pdf_path = dir.path().join("one.pdf");
    let ok = std::process::Command::new(&exe)
        .args(["render", "examples/diagram.json", "-o"])
        .arg(&pdf_path)
        .current_dir(aws::repo())
        .status()
        .expect("reportq render runs");
    assert!(ok.success(), "render the example first: make report");
    let pdf = std::fs::read(&pdf_path).unwrap();

    let ls = aws::LocalStack::start();
    let res = aws::resources(&ls.endpoint, 60, 5);
    let (s3, _) = aws::clients(&ls.endpoint).await;
    let store: Arc<dyn JobStore> = Arc::new(S3Store::new(s3.clone(), res.bucket.clone()));

    // A batch of n succeeded jobs, as the worker leaves them.
    let t = Instant::now();
    let batch_id = Uuid::new_v4();
    let now = reportq::domain::now_epoch();
    let ids: Vec<Uuid> = (0..n as u32).map(|i| item_id(batch_id, i)).collect();
    let batch = Batch { id: batch_id, created_at_epoch: now, job_ids: ids.clone(), manifest: None, owner: None, callback: None };
    assert!(store.create_batch(&batch).await.unwrap());
    let request = serde_json::json!({ "template": "diagram", "params": {} });
    let jobs: Vec<Job> = ids.iter().map(|id| Job::new(*id, Some(batch_id), "diagram", request.clone(), now)).collect();
    store.create_items(&jobs).await.unwrap();
    let mut sizes = 0u64;
    use futures::StreamExt;
    let work = futures::stream::iter(ids.iter().enumerate()).map(|(i, id)| {
        let (store, mut bytes) = (store.clone(), pdf.clone());
        async move {
            bytes.extend_from_slice(format!("%bench copy {i}\n").as_bytes());
            let sha = hex::encode(Sha256::digest(&bytes));
            let size = bytes.len() as u64;
            let out = store.create_report(*id, bytes, &sha).await.unwrap().unwrap_or(Output { key: String::new(), size, sha256: sha.clone() });
            let (job, version) = store.job(*id).await.unwrap().unwrap();
            let done = Job { status: Status::Succeeded, output: Some(Output { size, sha256: sha, ..out }), finished_at_epoch: Some(now), ..job };
            store.replace_job(&done, &version).await.unwrap();
            store.mark(batch_id, *id, Status::Succeeded).await.unwrap();
            size
        }
    });
    let mut work = work.buffer_unordered(16);
    while let Some(size) = work.next().await {
        sizes += size;
    }
    println!("{n} succeeded jobs stored ({:.1} MB of PDFs) in {:.1?}", sizes as f64 / 1e6, t.elapsed());

    // The build, with the peak reset first: what the builder itself needs.
    let before = status_kb("VmRSS:");
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let t = Instant::now();
    let msg = reportq::archive::ArchiveMessage { archive: batch_id, requested_at: now };
    let out = reportq::archive::build(store.as_ref(), msg, None).await.unwrap();
    let took = t.elapsed();
    let peak = status_kb("VmHWM:");
    let reportq::archive::BuildOutcome::Built(a) = out else { panic!("{out:?}") };
    println!(
        "archive of {n} reports: {:.1} MB in {:.2} s ({:.0} reports/s); RSS before {:.1} MB, peak during the build {:.1} MB",
        a.size as f64 / 1e6,
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );

    // Read back by another implementation; every row's sha256 is its PDF's.
    let zip = s3.get_object().bucket(&res.bucket).key(format!("batches/{batch_id}.zip")).send().await.unwrap();
    let zip = zip.body.collect().await.unwrap().into_bytes();
    let path = dir.path().join("batch.zip");
    std::fs::write(&path, &zip).unwrap();
    let script = "import sys, zipfile, hashlib, csv, io\n\
z = zipfile.ZipFile(sys.argv[1])\n\
assert z.testzip() is None\n\
rows = list(csv.DictReader(io.TextIOWrapper(z.open('manifest.csv'), 'utf-8')))\n\
bad = [r['line'] for r in rows if hashlib.sha256(z.read(r['file'])).hexdigest() != r['sha256']]\n\
print(len(rows), len(z.namelist()) - 1, len(bad))";
    let out = std::process::Command::new("python3").args(["-c", script]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let counts = String::from_utf8(out.stdout).unwrap();
    let counts: Vec<usize> = counts.split_whitespace().map(|v| v.parse().unwrap()).collect();
    println!("zipfile: {} rows, {} PDFs, {} sha256 mismatches", counts[0], counts[1], counts[2]);
    assert_eq!(counts, vec![n, n, 0]);
}
