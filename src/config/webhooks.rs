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
    /// signed with every one, so a secret can be rotated with no gap. Needed to deliver, here
    /// or in Secrets Manager.
    pub secrets: Vec<Secret>,
    /// A Secrets Manager secret holding the same (`REPORTQ_WEBHOOK_SECRETS_ARN`; the
    /// template's webhook function): read at start and every 5 minutes, never put in the
    /// environment. Exclusive with `secrets`.
    pub secrets_arn: Option<String>,
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
        let secrets_arn = env.get("REPORTQ_WEBHOOK_SECRETS_ARN").filter(|v| !v.trim().is_empty());
        if let (Some(arn), false) = (&secrets_arn, secrets.is_empty()) {
            return Err(invalid(
                "REPORTQ_WEBHOOK_SECRETS_ARN",
                arn,
                "REPORTQ_WEBHOOK_SECRETS is set too: give the secrets one way, so that a rotation has one place to happen".into(),
            ));
        }
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
            secrets_arn,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secrets_come_one_way() {
        let s = Secret::generate();
        let arn = "arn:aws:secretsmanager:eu-west-2:1:secret:hooks";
        let w = WebhookSettings::read(&Env::from_pairs([("REPORTQ_WEBHOOK_SECRETS_ARN", arn)])).unwrap();
        assert_eq!((w.secrets.len(), w.secrets_arn.as_deref()), (0, Some(arn)));
        let both = WebhookSettings::read(&Env::from_pairs([("REPORTQ_WEBHOOK_SECRETS_ARN", arn), ("REPORTQ_WEBHOOK_SECRETS", s.as_str())]));
        assert!(matches!(both, Err(ConfigError::Invalid { name: "REPORTQ_WEBHOOK_SECRETS_ARN", .. })), "{both:?}");
    }
}
