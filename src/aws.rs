//! AWS clients from the SDK's standard configuration (`AWS_ENDPOINT_URL`, `AWS_REGION`,
//! credentials chain), the same way on Lambda, on a laptop against LocalStack and in tests.

use aws_config::BehaviorVersion;

/// S3 and SQS clients from the environment.
pub async fn clients() -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    clients_from(&sdk_config().await)
}

/// The SDK's standard configuration; credentials that [`crate::sandbox::credentials`] took out
/// of the environment at start are given to it directly (the environment no longer has them).
pub async fn sdk_config() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(t) = crate::sandbox::credentials::taken() {
        let creds = aws_sdk_s3::config::Credentials::new(
            &t.access_key_id,
            &t.secret_access_key,
            t.session_token.clone(),
            None,
            "environment (taken at start)",
        );
        loader = loader.credentials_provider(creds);
    }
    loader.load().await
}

/// S3 and SQS clients from a loaded SDK config. Path-style S3 addressing whenever a custom
/// endpoint is set: emulators serve `http://host:port/bucket/key`, and virtual-host style
/// would need DNS for `bucket.127.0.0.1`.
///
/// Every call gets a time limit per attempt ([`ATTEMPT_TIMEOUT`], unless the config sets one):
/// the SDK's defaults limit only the connect, so a connection that goes silent without a reset
/// (packets dropped on the way) would hold its caller for ever.
pub fn clients_from(shared: &aws_config::SdkConfig) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let path_style = shared.endpoint_url().is_some();
    let timeouts = timeouts(shared, ATTEMPT_TIMEOUT);
    let s3 = aws_sdk_s3::config::Builder::from(shared).force_path_style(path_style).timeout_config(timeouts.clone()).build();
    let sqs = aws_sdk_sqs::config::Builder::from(shared).timeout_config(timeouts).build();
    (aws_sdk_s3::Client::from_conf(s3), aws_sdk_sqs::Client::from_conf(sqs))
}

/// `shared`'s time limits, with `attempt` as the limit per attempt unless it sets one.
pub fn timeouts(shared: &aws_config::SdkConfig, attempt: std::time::Duration) -> aws_config::timeout::TimeoutConfig {
    let mut t = shared.timeout_config().map(|t| t.to_builder()).unwrap_or_default();
    if t.clone().build().operation_attempt_timeout().is_none() {
        t = t.operation_attempt_timeout(attempt);
    }
    t.build()
}

/// The longest one S3 or SQS call attempt may wait: above SQS's longest long poll (20 s), far
/// above any S3 call reportq makes (a PDF upload is a few MB at most).
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// An SDK error with its causes: the SDK's Display says only "service error"; the source chain
/// has the code and message.
pub fn describe<E: std::error::Error + 'static, R: std::fmt::Debug>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
