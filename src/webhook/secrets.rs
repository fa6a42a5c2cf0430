//! The deployment's signing secrets: the ones events are signed with when their owner has no
//! secret of its own (JWT subjects, keys made before per-key secrets, open deployments).
//!
//! On Lambda they live in Secrets Manager, never in the function's environment (where anyone
//! who can read the function's configuration reads them): the webhook function is given the
//! secret's ARN (`REPORTQ_WEBHOOK_SECRETS_ARN`), reads the value at start, and again every
//! [`REFRESH`], so a rotation (a new value, `whsec_new,whsec_old` while receivers move) reaches
//! running instances within minutes. Locally, `REPORTQ_WEBHOOK_SECRETS` holds them directly.
//!
//! Invariants: an instance never signs with nothing (the first read must succeed and give at
//! least one secret, or the process does not start); a failed or empty later read keeps the
//! secrets it had.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::webhook::Secret;

/// How long a read of the secret is used before it is read again.
pub const REFRESH: Duration = Duration::from_secs(300);

/// Where the secrets' text comes from (Secrets Manager on AWS).
#[async_trait::async_trait]
pub trait SecretSource: Send + Sync + std::fmt::Debug {
    /// The secret's current text: `whsec_...` values, comma-separated.
    async fn read(&self) -> Result<String, String>;
}

/// The secrets the deliverer signs with, fixed or refreshed from a [`SecretSource`].
#[derive(Debug, Clone)]
pub struct DeploymentSecrets {
    source: Option<Arc<dyn SecretSource>>,
    refresh: Duration,
    cached: Arc<tokio::sync::Mutex<(Vec<Secret>, Instant)>>,
}

impl DeploymentSecrets {
    /// Secrets that never change (`REPORTQ_WEBHOOK_SECRETS`).
    pub fn fixed(secrets: Vec<Secret>) -> DeploymentSecrets {
        DeploymentSecrets { source: None, refresh: REFRESH, cached: Arc::new(tokio::sync::Mutex::new((secrets, Instant::now()))) }
    }

    /// Secrets read from `source` now (an error if that fails or gives none) and again once
    /// `refresh` ([`REFRESH`]) has passed since the last read.
    pub async fn from_source(source: Arc<dyn SecretSource>, refresh: Duration) -> Result<DeploymentSecrets, String> {
        let secrets = parse(&source.read().await?)?;
        Ok(DeploymentSecrets { source: Some(source), refresh, cached: Arc::new(tokio::sync::Mutex::new((secrets, Instant::now()))) })
    }

    /// Whether there is anything to sign with.
    pub async fn is_empty(&self) -> bool {
        self.cached.lock().await.0.is_empty()
    }

    /// The secrets to sign with now.
    pub async fn current(&self) -> Vec<Secret> {
        let mut cached = self.cached.lock().await;
        if let Some(source) = &self.source
            && cached.1.elapsed() >= self.refresh
        {
            // Tried again one period later either way: a Secrets Manager outage costs one call per
            // instance per period, not one per delivery.
            cached.1 = Instant::now();
            match source.read().await.and_then(|text| parse(&text)) {
                Ok(secrets) => cached.0 = secrets,
                Err(e) => tracing::warn!(error = %e, "webhook signing secrets not re-read; signing with the ones read before"),
            }
        }
        cached.0.clone()
    }
}

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
        let timeouts = crate::aws::timeouts(shared, std::time::Duration::from_secs(5));
        let conf = aws_sdk_secretsmanager::config::Builder::from(shared).timeout_config(timeouts).build();
        SecretsManagerSecret { client: aws_sdk_secretsmanager::Client::from_conf(conf), id: id.into() }
    }
}

#[async_trait::async_trait]
impl SecretSource for SecretsManagerSecret {
    async fn read(&self) -> Result<String, String> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.id)
            .send()
            .await
            .map_err(|e| format!("reading {}: {}", self.id, crate::aws::describe(&e)))?;
        out.secret_string().map(str::to_owned).ok_or_else(|| format!("{} holds binary data, not whsec_ text", self.id))
    }
}

/// `whsec_...` values, comma- or space-separated; at least one.
pub fn parse(text: &str) -> Result<Vec<Secret>, String> {
    let secrets = text.split([',', ' ', '\n']).filter(|s| !s.trim().is_empty()).map(Secret::parse).collect::<Result<Vec<_>, _>>()?;
    if secrets.is_empty() {
        return Err("the secret holds no whsec_ value".into());
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Scripted(std::sync::Mutex<Vec<Result<String, String>>>);

    #[async_trait::async_trait]
    impl SecretSource for Scripted {
        async fn read(&self) -> Result<String, String> {
            self.0.lock().unwrap().remove(0)
        }
    }

    #[tokio::test]
    async fn a_rotation_is_read_after_the_refresh_period_and_a_failed_read_keeps_the_old() {
        const PERIOD: Duration = Duration::from_millis(300);
        let (a, b) = (Secret::generate(), Secret::generate());
        let source = Arc::new(Scripted(std::sync::Mutex::new(vec![Ok(a.clone()), Ok(format!("{b},{a}")), Err("throttled".into()), Ok("".into())])));
        let s = DeploymentSecrets::from_source(source, PERIOD).await.unwrap();
        let sig = |v: &[Secret]| v.iter().map(|s| s.sign("id", 1, b"x")).collect::<Vec<_>>();
        let one = |t: &str| Secret::parse(t).unwrap().sign("id", 1, b"x");
        assert_eq!(sig(&s.current().await), vec![one(&a)]);
        // Within the period: not read again (the script would hand out the rotation).
        tokio::time::sleep(PERIOD / 3).await;
        assert_eq!(sig(&s.current().await), vec![one(&a)]);
        tokio::time::sleep(PERIOD).await;
        assert_eq!(sig(&s.current().await), vec![one(&b), one(&a)]);
        // A failed read, then an empty one: both keep what was read before.
        for _ in 0..2 {
            tokio::time::sleep(PERIOD).await;
            assert_eq!(sig(&s.current().await), vec![one(&b), one(&a)]);
        }
    }

    #[tokio::test]
    async fn the_first_read_must_give_a_secret() {
        for text in ["", " , ", "not base64!"] {
            let source = Arc::new(Scripted(std::sync::Mutex::new(vec![Ok(text.into())])));
            assert!(DeploymentSecrets::from_source(source, REFRESH).await.is_err(), "{text:?}");
        }
        let source = Arc::new(Scripted(std::sync::Mutex::new(vec![Err("AccessDenied".into())])));
        assert_eq!(DeploymentSecrets::from_source(source, REFRESH).await.unwrap_err(), "AccessDenied");
    }
}
