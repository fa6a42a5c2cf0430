//! The API Lambda: API Gateway HTTP API (payload v2, proxy integration) -> the axum router.
//! The same image runs the webhook function (`REPORTQ_ROLE=webhooks`): the delivery queue's
//! SQS event source -> the deliverer. Neither needs TeX.

fn main() -> Result<(), lambda_http::Error> {
    reportq::sandbox::maybe_run_child();
    let telemetry = reportq::logging::init().inspect_err(|e| tracing::error!(error = %e, "not starting"))?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        if telemetry.role == reportq::config::Role::Webhooks {
            let deliverer = std::sync::Arc::new(reportq::startup::deliverer().await?);
            return lambda_runtime::run(lambda_runtime::service_fn(move |event| {
                let deliverer = deliverer.clone();
                async move { deliverer.handle_event(event).await }
            }))
            .await;
        }
        let state = reportq::startup::api_state().await?;
        lambda_http::run(reportq::api::router(std::sync::Arc::new(state))).await
    })
}
