//! Webhook settings, shared by the API (which checks callback URLs) and the worker (which
//! sends events).

use std::time::Duration;

use super::{ConfigError, Env};
use crate::domain::webhook::{AllowList, Secret};

/// Webhook settings, shared by the API (which checks callback URLs) and the worker (which
/// sends events).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The delivery queue (`REPORTQ_WEBHOOK_QUEUE_URL`). Without one, requests with a callback
    /// are refused (400) and nothing is sent.
    pub queue_url: Option<String>,
    /// Signing secrets, `whsec_...`, comma-separated (`REPORTQ_WEBHOOK_SECRETS`): each event is
    /// signed with every one, so a secret can be rotated with no gap. Needed to deliver.
    pub secrets: Vec<Secret>,
    /// Networks callbacks may reach though not public, over http too
    /// (`REPORTQ_WEBHOOK_ALLOW_NETS`, CIDRs; default none).
    pub allow: AllowList,
    /// One attempt's limit, connect to answer (`REPORTQ_WEBHOOK_TIMEOUT_SECS`, default 10).
    pub timeout: Duration,
    /// Delays between attempts (`REPORTQ_WEBHOOK_BACKOFF_SECS`, default
    /// `5,300,1800,7200,18000,28800,28800`: 8 attempts over about 23.6 hours).
    pub backoff: Vec<Duration>,
    /// How long an event's download URL lives (`REPORTQ_URL_EXPIRY_SECS`, default 900).
    pub url_expiry: Duration,
}

impl WebhookSettings {
    pub fn read(env: &Env) -> Result<WebhookSettings, ConfigError> {
        let invalid = |name: &'static str, value: &str, reason: String| ConfigError::Invalid { name, value: value.into(), reason };
        let secrets = match env.get("REPORTQ_WEBHOOK_SECRETS") {
            None => Vec::new(),
            Some(v) => v
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(|s| Secret::parse(s).map_err(|e| invalid("REPORTQ_WEBHOOK_SECRETS", "(not shown)", e)))
                .collect::<Result<_, _>>()?,
        };
        let allow = match env.get("REPORTQ_WEBHOOK_ALLOW_NETS") {
            None => AllowList::default(),
            Some(v) => AllowList::parse(&v).map_err(|e| invalid("REPORTQ_WEBHOOK_ALLOW_NETS", &v, e))?,
        };
        let backoff_text = env.get("REPORTQ_WEBHOOK_BACKOFF_SECS").unwrap_or_else(|| "5,300,1800,7200,18000,28800,28800".into());
        let backoff = backoff_text
            .split(',')
            .map(|s| s.trim().parse::<f64>().ok().filter(|v| (0.0..=86_400.0).contains(v)).map(Duration::from_secs_f64))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("REPORTQ_WEBHOOK_BACKOFF_SECS", &backoff_text, "comma-separated seconds, each 0 to 86400".into()))?;
        Ok(WebhookSettings {
            queue_url: env.get("REPORTQ_WEBHOOK_QUEUE_URL"),
            secrets,
            allow,
            timeout: env.secs("REPORTQ_WEBHOOK_TIMEOUT_SECS", 10.0, 0.1, 60.0)?,
            backoff,
            url_expiry: env.secs("REPORTQ_URL_EXPIRY_SECS", 900.0, 1.0, 604_800.0)?,
        })
    }

    /// Attempts in all: the first and one per back-off delay.
    pub fn max_attempts(&self) -> u32 {
        self.backoff.len() as u32 + 1
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings::read(&Env::default()).expect("the defaults are valid")
    }
}
