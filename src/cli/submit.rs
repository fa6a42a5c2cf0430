//! `reportq submit`: the API's client, one request or a batch, with --wait.

use std::path::PathBuf;

use super::*;

pub(crate) async fn submit_one(
    client: reportq::client::Client,
    input: &PathBuf,
    wait: bool,
    output: Option<PathBuf>,
    timeout: std::time::Duration,
) -> Res {
    let text = std::fs::read_to_string(input).map_err(|e| format!("reading {}: {e}", input.display()))?;
    let request: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", input.display()))?;
    let submitted = client.submit(&request).await?;
    let id = submitted.job_id;
    if !wait {
        println!("{}", serde_json::to_string_pretty(&submitted)?);
        return Ok(());
    }
    eprintln!("job {id}");
    let job = client.wait(id, timeout, |s| eprintln!("  {}", s.as_str())).await?;
    let path = output.unwrap_or_else(|| PathBuf::from(job.result.map(|r| r.filename).unwrap_or_else(|| "report.pdf".into())));
    let n = client.download(id, &path).await?;
    eprintln!("wrote {} ({n} bytes)", path.display());
    Ok(())
}

pub(crate) async fn submit_batch(
    client: reportq::client::Client,
    input: &std::path::Path,
    manifest: bool,
    wait: bool,
    output: Option<PathBuf>,
    timeout: std::time::Duration,
) -> Res {
    // A JSONL file larger than one batch call goes up whole, as a manifest. Read only as far
    // as that takes (a manifest may be 256 MiB).
    let more_than_a_batch = || {
        use std::io::BufRead;
        let file = std::fs::File::open(input).map(std::io::BufReader::new);
        file.is_ok_and(|f| f.split(b'\n').map_while(Result::ok).filter(|l| !l.is_empty()).nth(reportq::config::MAX_BATCH).is_some())
    };
    if manifest || (input.is_file() && more_than_a_batch()) {
        let (id, view) = client.run_manifest(input, wait, timeout).await?;
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "batch_id": id, "done": view.done, "counts": view.counts, "manifest": view.manifest })
            )?
        );
        return match view.manifest.filter(|_| wait).map(|m| m.invalid) {
            Some(n) if n > 0 || view.counts.failed > 0 => Err(format!("{n} lines invalid, {} jobs failed", view.counts.failed).into()),
            _ => Ok(()),
        };
    }
    let items = reportq::client::read_batch(input)?;
    if items.is_empty() {
        return Err(format!("{}: no requests found", input.display()).into());
    }
    let dir = wait.then(|| output.unwrap_or_else(|| PathBuf::from("reports")));
    let run = client.run_batch(&items, dir.as_deref(), timeout).await?;
    let Some(dir) = dir else {
        let jobs: Vec<serde_json::Value> = run.jobs.iter().map(|(s, id)| serde_json::json!({"name": s, "job_id": id})).collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "batches": run.batches, "jobs": jobs }))?);
        return Ok(());
    };
    eprintln!("{} PDFs in {}; {} failed", run.jobs.len() - run.failed.len(), dir.display(), run.failed.len());
    for f in &run.failed {
        eprintln!("  {f}");
    }
    if run.failed.is_empty() { Ok(()) } else { Err(format!("{} jobs failed", run.failed.len()).into()) }
}
