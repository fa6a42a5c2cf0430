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
    let mut timeouts = shared.timeout_config().map(|t| t.to_builder()).unwrap_or_default();
    if timeouts.clone().build().operation_attempt_timeout().is_none() {
        timeouts = timeouts.operation_attempt_timeout(ATTEMPT_TIMEOUT);
    }
    let timeouts = timeouts.build();
    let s3 = aws_sdk_s3::config::Builder::from(shared).force_path_style(path_style).timeout_config(timeouts.clone()).build();
    let sqs = aws_sdk_sqs::config::Builder::from(shared).timeout_config(timeouts).build();
    (aws_sdk_s3::Client::from_conf(s3), aws_sdk_sqs::Client::from_conf(sqs))
}

/// The longest one S3 or SQS call attempt may wait: above SQS's longest long poll (20 s), far
/// above any S3 call reportq makes (a PDF upload is a few MB at most).
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A Secrets Manager secret's current value (`AWSCURRENT`), read each time it is asked for.
#[derive(Debug, Clone)]
pub struct SecretsManagerSecret {
    client: aws_sdk_secretsmanager::Client,
    id: String,
}

impl SecretsManagerSecret {
    /// The secret `id` (an ARN or a name), with the same endpoint, region and credentials as
    /// the S3 and SQS clients.
    pub fn new(shared: &aws_config::SdkConfig, id: &str) -> SecretsManagerSecret {
        let mut timeouts = shared.timeout_config().map(|t| t.to_builder()).unwrap_or_default();
        if timeouts.clone().build().operation_attempt_timeout().is_none() {
            timeouts = timeouts.operation_attempt_timeout(std::time::Duration::from_secs(5));
        }
        let conf = aws_sdk_secretsmanager::config::Builder::from(shared).timeout_config(timeouts.build()).build();
        SecretsManagerSecret { client: aws_sdk_secretsmanager::Client::from_conf(conf), id: id.into() }
    }
}

#[async_trait::async_trait]
impl crate::webhook::secrets::SecretSource for SecretsManagerSecret {
    async fn read(&self) -> Result<String, String> {
        let out = self.client.get_secret_value().secret_id(&self.id).send().await.map_err(|e| format!("reading {}: {}", self.id, describe(&e)))?;
        out.secret_string().map(str::to_owned).ok_or_else(|| format!("{} holds binary data, not whsec_ text", self.id))
    }
}

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

/// An AWS KMS asymmetric RSA key (`KeySpec` RSA_2048 to RSA_4096, `KeyUsage` SIGN_VERIFY):
/// reports are signed with it, and the private key never leaves KMS.
#[derive(Debug, Clone)]
pub struct KmsKey {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsKey {
    pub fn new(shared: &aws_config::SdkConfig, key_id: &str) -> KmsKey {
        let mut timeouts = shared.timeout_config().map(|t| t.to_builder()).unwrap_or_default();
        if timeouts.clone().build().operation_attempt_timeout().is_none() {
            timeouts = timeouts.operation_attempt_timeout(std::time::Duration::from_secs(5));
        }
        let conf = aws_sdk_kms::config::Builder::from(shared).timeout_config(timeouts.build()).build();
        KmsKey { client: aws_sdk_kms::Client::from_conf(conf), key_id: key_id.into() }
    }
}

#[async_trait::async_trait]
impl crate::signing::SigningKey for KmsKey {
    async fn public_key_der(&self) -> Result<Vec<u8>, String> {
        let out = self
            .client
            .get_public_key()
            .key_id(&self.key_id)
            .send()
            .await
            .map_err(|e| format!("KMS GetPublicKey {}: {}", self.key_id, describe(&e)))?;
        out.public_key().map(|b| b.as_ref().to_vec()).ok_or_else(|| format!("KMS gave no public key for {}", self.key_id))
    }

    async fn sign_sha256(&self, digest: &[u8; 32]) -> Result<Vec<u8>, String> {
        use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(aws_sdk_kms::primitives::Blob::new(digest.to_vec()))
            .message_type(MessageType::Digest)
            .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
            .send()
            .await
            .map_err(|e| format!("KMS Sign {}: {}", self.key_id, describe(&e)))?;
        out.signature().map(|b| b.as_ref().to_vec()).ok_or_else(|| format!("KMS gave no signature for {}", self.key_id))
    }
}

/// The signer `settings` name, if any: the key from KMS (with `shared`'s endpoint, region and
/// credentials, or the standard configuration's when `None`) or a PEM file, and its
/// certificate (one KMS signature, at start).
pub async fn signer(
    shared: Option<&aws_config::SdkConfig>,
    settings: &crate::config::SigningSettings,
) -> Result<Option<crate::signing::Signer>, String> {
    use crate::config::SigningKeySpec;
    let key: std::sync::Arc<dyn crate::signing::SigningKey> = match &settings.key {
        None => return Ok(None),
        Some(SigningKeySpec::Kms(id)) => match shared {
            Some(sdk) => std::sync::Arc::new(KmsKey::new(sdk, id)),
            None => std::sync::Arc::new(KmsKey::new(&sdk_config().await, id)),
        },
        Some(SigningKeySpec::Pem(path)) => std::sync::Arc::new(crate::signing::PemKey::read(path)?),
    };
    crate::signing::Signer::new(key, &settings.name).await.map(Some)
}
