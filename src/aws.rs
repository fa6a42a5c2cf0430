//! AWS clients from the SDK's standard configuration (`AWS_ENDPOINT_URL`, `AWS_REGION`,
//! credentials chain), the same way on Lambda, on a laptop against LocalStack and in tests.

use aws_config::BehaviorVersion;

/// S3 and SQS clients from the environment.
pub async fn clients() -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let shared = aws_config::defaults(BehaviorVersion::latest()).load().await;
    clients_from(&shared)
}

/// S3 and SQS clients from a loaded SDK config. Path-style S3 addressing whenever a custom
/// endpoint is set: emulators serve `http://host:port/bucket/key`, and virtual-host style
/// would need DNS for `bucket.127.0.0.1`.
pub fn clients_from(shared: &aws_config::SdkConfig) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let path_style = shared.endpoint_url().is_some();
    let s3 = aws_sdk_s3::config::Builder::from(shared).force_path_style(path_style).build();
    (aws_sdk_s3::Client::from_conf(s3), aws_sdk_sqs::Client::new(shared))
}
