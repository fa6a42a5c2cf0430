//! Wiring: the one place that builds the AWS implementations of the store and the queues
//! (`S3Store`, `SqsQueue`) and hands them to the services over their traits (zero-to-
//! production's `startup.rs`). The binaries start here ([`api_state`], [`worker`],
//! [`deliverer`], and the CLI's sweep and keys); the tests' app helper calls
//! [`Services::build`] with its own bucket and SDK configuration, so what they run is wired
//! the way production is. `scripts/check-layout.py` keeps it the only such place.

use std::sync::Arc;

use crate::access::Access;
use crate::api::ApiState;
use crate::config::{ApiSettings, ConfigError, RenderConfig, WorkerSettings};
use crate::queue::SqsQueue;
use crate::render::{RenderError, Renderer};
use crate::store::{JobStore, S3Store};
use crate::webhook::secrets::DeploymentSecrets;
use crate::webhook::{Deliverer, Notifier};
use crate::worker::Worker;

/// Why a process cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// The AWS clients and the bucket's store, built once per process.
#[derive(Clone)]
pub struct Services {
    sdk: aws_config::SdkConfig,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    /// The job store: the bucket.
    pub store: Arc<dyn JobStore>,
}

impl Services {
    /// The store on `bucket` and clients for the queues, from an SDK configuration.
    pub fn build(bucket: &str, sdk: &aws_config::SdkConfig) -> Services {
        let (s3, sqs) = crate::aws::clients_from(sdk);
        Services { store: Arc::new(S3Store::new(s3.clone(), bucket)), s3, sqs, sdk: sdk.clone() }
    }

    /// [`Services::build`] with the SDK's standard configuration ([`crate::aws::sdk_config`]).
    pub async fn from_env(bucket: &str) -> Services {
        Services::build(bucket, &crate::aws::sdk_config().await)
    }

    /// The same, with the store's S3 client from another configuration (tests: a fault proxy
    /// in front of S3 only).
    pub fn with_store_from(mut self, bucket: &str, sdk: &aws_config::SdkConfig) -> Services {
        let (s3, _) = crate::aws::clients_from(sdk);
        self.store = Arc::new(S3Store::new(s3.clone(), bucket));
        self.s3 = s3;
        self
    }

    /// An SQS queue by URL.
    pub fn queue(&self, url: &str) -> Arc<SqsQueue> {
        Arc::new(SqsQueue::new(self.sqs.clone(), url))
    }

    pub fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// The API over the store and its two lanes' queues.
    pub fn api_state(&self, cfg: ApiSettings) -> ApiState {
        let queue = self.queue(&cfg.queue_url);
        let interactive = cfg.interactive_queue_url.clone().map(|u| self.queue(&u));
        let state = ApiState::new(cfg, self.store.clone(), queue);
        match interactive {
            Some(q) => state.with_interactive(q),
            None => state,
        }
    }

    /// The worker over the store, with its queues (to poll locally) and webhooks when on.
    pub async fn worker(&self, cfg: WorkerSettings, renderer: Arc<Renderer>) -> Result<(Worker, Queues), StartError> {
        let queues = Queues {
            bulk: self.queue(&cfg.queue_url),
            interactive: cfg.interactive_queue_url.as_deref().map(|u| self.queue(u)),
            webhooks: cfg.webhooks.queue_url.as_deref().map(|u| self.queue(u)),
        };
        let scorer = scorer(&cfg);
        let secrets = self.signing_secrets(&cfg.webhooks).await?;
        let signer = crate::signing::signer(Some(&self.sdk), &cfg.signing).await.map_err(|reason| ConfigError::Invalid {
            name: "REPORTQ_SIGNING_KEY",
            value: format!("{:?}", cfg.signing.key),
            reason,
        })?;
        let mut worker = Worker::new(self.store.clone(), renderer, cfg, scorer).with_signer(signer);
        if let Some(q) = &queues.webhooks {
            worker = worker.with_webhooks(q.clone(), secrets);
        }
        let worker = worker.with_fanout(queues.bulk.clone());
        Ok((worker, queues))
    }

    /// A manifest fan-out run in this process (`reportq fanout`), as the worker's own.
    pub fn fanout(&self, cfg: &WorkerSettings, lease: std::time::Duration) -> crate::fanout::Fanout {
        crate::fanout::Fanout {
            store: self.store.clone(),
            queue: self.queue(&cfg.queue_url),
            scorer: scorer(cfg),
            me: format!("reportq-fanout:{}", std::process::id()),
            max_backlog: cfg.max_backlog,
            notifier: self.notifier(cfg),
            lease,
        }
    }

    /// The webhook function's deliverer over the delivery queue.
    pub async fn deliverer(&self, cfg: &ApiSettings) -> Result<Deliverer, ConfigError> {
        let w = cfg.webhooks.clone();
        let url =
            w.queue_url.clone().ok_or(ConfigError::Missing { name: "REPORTQ_WEBHOOK_QUEUE_URL", reason: "the webhook function delivers from it" })?;
        let secrets = self.signing_secrets(&w).await?.ok_or(ConfigError::Missing {
            name: "REPORTQ_WEBHOOK_SECRETS_ARN",
            reason: "every event is signed: the ARN of a Secrets Manager secret holding whsec_ values (or REPORTQ_WEBHOOK_SECRETS)",
        })?;
        Ok(Deliverer::new(self.store.clone(), self.queue(&url), w, secrets))
    }

    /// The deployment's signing secrets: read from Secrets Manager now (the process does not
    /// start if that fails), or given in the environment; `None` when neither is set.
    pub async fn signing_secrets(&self, w: &crate::config::WebhookSettings) -> Result<Option<DeploymentSecrets>, ConfigError> {
        if let Some(arn) = &w.secrets_arn {
            let source = Arc::new(crate::webhook::secrets::SecretsManagerSecret::new(&self.sdk, arn));
            let secrets = DeploymentSecrets::from_source(source, crate::webhook::secrets::REFRESH).await.map_err(|reason| ConfigError::Invalid {
                name: "REPORTQ_WEBHOOK_SECRETS_ARN",
                value: arn.clone(),
                reason,
            })?;
            return Ok(Some(secrets));
        }
        Ok((!w.secrets.is_empty()).then(|| DeploymentSecrets::fixed(w.secrets.clone())))
    }

    /// What the sweep notifies through, when webhooks are on.
    pub fn notifier(&self, cfg: &WorkerSettings) -> Option<Notifier> {
        cfg.webhooks.queue_url.as_deref().map(|u| Notifier::new(self.store.clone(), self.queue(u)))
    }

    /// API keys and quotas over the store (`reportq keys`, the API's checks).
    pub fn access(&self, cfg: &ApiSettings) -> Access {
        Access::new(cfg.auth, self.store.clone())
    }
}

/// The queues `reportq worker` polls: the bulk lane, and the interactive lane when it has a
/// queue of its own; and the webhook delivery queue (`REPORTQ_WEBHOOK_QUEUE_URL`).
#[derive(Clone)]
pub struct Queues {
    pub bulk: Arc<SqsQueue>,
    pub interactive: Option<Arc<SqsQueue>>,
    pub webhooks: Option<Arc<SqsQueue>>,
}

/// The API's state from the environment (read once): S3, SQS, the DiAGRAM network.
pub async fn api_state() -> Result<ApiState, StartError> {
    let cfg = ApiSettings::from_env()?;
    Ok(Services::from_env(&cfg.bucket).await.api_state(cfg))
}

/// A worker on S3 and its SQS queues, from the environment (read once).
pub async fn worker() -> Result<(Worker, Queues), StartError> {
    let cfg = WorkerSettings::from_env()?;
    let render = cfg.cap_render(RenderConfig::from_env()?);
    // Once, at start: what an operator checks first when jobs behave oddly.
    tracing::info!(settings = ?cfg, render = ?render, metrics = ?crate::metrics::mode(), commit = env!("REPORTQ_GIT_COMMIT"), "worker settings");
    let renderer = Arc::new(Renderer::new(render)?);
    Services::from_env(&cfg.bucket).await.worker(cfg, renderer).await
}

/// The webhook function's deliverer: the bucket and the delivery queue from the environment.
pub async fn deliverer() -> Result<Deliverer, ConfigError> {
    let cfg = ApiSettings::from_env()?;
    Services::from_env(&cfg.bucket).await.deliverer(&cfg).await
}

/// The DiAGRAM network the worker scores and checks with. A broken network file costs the
/// reports their "Where to improve first" section, not the reports themselves; the API's
/// scoring routes say what is wrong.
fn scorer(cfg: &WorkerSettings) -> Option<Arc<crate::scoring::Scorer>> {
    match crate::scoring::load(cfg.diagram_model.as_deref()) {
        Ok(d) => Some(d),
        Err(crate::scoring::NetworkError::NotConfigured) => None,
        Err(e) => {
            tracing::warn!(error = %e, "reports go without improvements");
            None
        }
    }
}
