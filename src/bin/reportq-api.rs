//! The API Lambda: API Gateway HTTP API (payload v2, proxy integration) -> the axum router.

fn main() -> Result<(), lambda_http::Error> {
    reportq::sandbox::maybe_run_child();
    reportq::logging::init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let state = reportq::api::ApiState::from_env().await?;
        lambda_http::run(reportq::api::router(std::sync::Arc::new(state))).await
    })
}
