//! The worker Lambda: SQS event sources (with ReportBatchItemFailures) -> the worker; the
//! hourly schedule -> the sweep.

use std::sync::Arc;

fn main() -> Result<(), lambda_runtime::Error> {
    reportq::sandbox::maybe_run_child();
    // Before any thread: the credentials leave the environment a TeX child could read.
    // SAFETY: no thread has started yet.
    unsafe { reportq::sandbox::credentials::take_from_environment() };
    reportq::logging::init().inspect_err(|e| tracing::error!(error = %e, "not starting"))?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let (worker, _queue) = reportq::startup::worker().await?;
        let worker = Arc::new(worker);
        lambda_runtime::run(lambda_runtime::service_fn(move |event| {
            let worker = worker.clone();
            async move { worker.handle_any(event).await }
        }))
        .await
    })
}
