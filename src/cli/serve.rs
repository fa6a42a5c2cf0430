//! `reportq serve` and `reportq worker`: the Lambda functions' code as long-running processes.

use super::*;

pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// Ctrl-C or SIGTERM (what process managers and `scripts/dev.sh` send).
pub(crate) async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term => {} }
}

pub(crate) async fn serve(listen: Option<String>) -> Res {
    let state = reportq::startup::api_state().await?;
    let addr = listen.unwrap_or_else(|| state.cfg.listen.clone());
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(addr = %listener.local_addr()?, bucket = state.cfg.bucket, queue = state.cfg.queue_url, "reportq API listening");
    reportq::api::serve(state, listener, shutdown_signal()).await?;
    Ok(())
}

pub(crate) async fn worker() -> Res {
    let (worker, queues) = reportq::startup::worker().await?;
    let interactive = queues.interactive.as_ref().map(|q| q.url().to_string()).unwrap_or_else(|| "none (shares the bulk queue)".into());
    tracing::info!(queue = queues.bulk.url(), interactive_queue = interactive, "reportq worker polling");
    // A job that can outlive its message's invisibility is handed to a second worker while
    // the first still runs it: say so at start rather than in a confusing log later.
    for queue in std::iter::once(&queues.bulk).chain(queues.interactive.as_ref()) {
        if let Ok(Some(v)) = queue.visibility_timeout().await {
            let deadline = worker.settings().job_deadline;
            if v <= deadline {
                tracing::warn!(queue = queue.url(), visibility = ?v, deadline = ?deadline, "the queue's visibility timeout is not above REPORTQ_JOB_DEADLINE_SECS");
            }
        }
    }
    if let Some(addr) = worker.settings().metrics_listen.clone() {
        // A second worker on the same machine finds the port taken: it works on, unscraped.
        match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => {
                tracing::info!(addr = %l.local_addr()?, "worker metrics on /metrics");
                tokio::spawn(reportq::api::serve_metrics(l));
            }
            Err(e) => tracing::warn!(addr, error = %e, "worker metrics not served"),
        }
    }
    // `reportq worker` delivers the events it queues, so it signs: it needs the secrets (the
    // worker Lambda only queues them, and the webhook function signs).
    if queues.webhooks.is_some() && worker.deliverer().is_none() {
        return Err(reportq::config::ConfigError::Missing {
            name: "REPORTQ_WEBHOOK_SECRETS",
            reason: "webhooks are on (REPORTQ_WEBHOOK_QUEUE_URL) and every event is signed: make one with `reportq webhook secret` (or give REPORTQ_WEBHOOK_SECRETS_ARN, a Secrets Manager secret holding them)",
        }
        .into());
    }
    // Webhook deliveries in a loop of their own: a receiver that hangs holds a delivery
    // slot, never a render slot.
    let deliveries = async {
        if let (Some(q), Some(d)) = (&queues.webhooks, worker.deliverer()) {
            tracing::info!(queue = q.url(), "delivering webhooks");
            d.run(q.as_ref(), 16, worker.settings().poll_wait, shutdown_signal()).await;
        }
    };
    let interactive = queues.interactive.as_deref().map(|q| q as &dyn reportq::consumer::Source);
    futures::join!(worker.run(queues.bulk.as_ref(), interactive, shutdown_signal()), deliveries);
    Ok(())
}

/// `reportq fanout BATCH`: the worker's fan-out, run here until every line is read.
pub(crate) async fn fanout(batch: &str, lease: u64) -> Res {
    use reportq::fanout::FanoutOutcome;
    let batch: uuid::Uuid = batch.parse().map_err(|e| format!("{batch:?} is not a batch id: {e}"))?;
    let cfg = reportq::config::WorkerSettings::from_env()?;
    let services = reportq::startup::Services::from_env(&cfg.bucket).await;
    let fanout = services.fanout(&cfg, std::time::Duration::from_secs(lease));
    let started = std::time::Instant::now();
    let cursor = loop {
        match fanout.run(batch, std::time::Duration::from_secs(365 * 86_400)).await? {
            FanoutOutcome::Done(c) => break c,
            FanoutOutcome::Busy => {
                tracing::info!(batch_id = %batch, "another process holds the fan-out's lease; waiting");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            FanoutOutcome::Paused(c, wait) => {
                tracing::info!(batch_id = %batch, next_line = c.next_line, wait_secs = wait.as_secs(), "backlog full; waiting");
                tokio::time::sleep(wait).await;
            }
        }
    };
    // What the process needed at most: the figure the bulk benchmark reports.
    let peak_kb: u64 = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok()))
        .unwrap_or(0);
    let out = serde_json::json!({ "batch_id": batch, "lines": cursor.next_line, "valid": cursor.valid, "invalid": cursor.invalid,
        "seconds": started.elapsed().as_secs_f64(), "peak_rss_kb": peak_kb });
    println!("{out}");
    Ok(())
}
