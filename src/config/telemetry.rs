//! How a process reports on itself, read once at start: the log format
//! (`REPORTQ_LOG_FORMAT`), the metrics mode (`REPORTQ_METRICS`) and, for the API image, which
//! function it is (`REPORTQ_ROLE`). A value that is none of the documented ones stops the
//! process with the variable's name, like every other setting: a typo in `REPORTQ_METRICS`
//! would otherwise turn an alarm's metrics off without a word.

use super::{ConfigError, Env};

/// How log events are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line: what Lambda, CloudWatch Logs Insights and the soak read.
    Json,
    /// Compact text, for a terminal.
    Text,
}

/// Where metrics go ([`crate::metrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsMode {
    /// Nothing is recorded.
    Off,
    /// The in-process registry only (`/metrics`).
    On,
    /// The registry, and an Embedded Metric Format document on stdout per figure (Lambda).
    Emf,
}

/// Which function the API image runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// API Gateway's requests (the default).
    Api,
    /// The delivery queue's events (`REPORTQ_ROLE=webhooks`).
    Webhooks,
}

/// The three, with their defaults resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Telemetry {
    pub log_format: LogFormat,
    pub metrics: MetricsMode,
    pub role: Role,
}

fn choice<T: Copy>(env: &Env, name: &'static str, options: &[(&str, T)], default: T) -> Result<T, ConfigError> {
    let Some(v) = env.var(name) else { return Ok(default) };
    options.iter().find(|(k, _)| k.eq_ignore_ascii_case(&v)).map(|(_, t)| *t).ok_or_else(|| ConfigError::Invalid {
        name,
        value: v,
        reason: format!("must be one of {}", options.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")),
    })
}

impl Telemetry {
    /// JSON logs unless stderr is a terminal; EMF metrics on Lambda, the registry elsewhere.
    pub fn read(env: &Env, stderr_is_terminal: bool) -> Result<Telemetry, ConfigError> {
        let lambda = env.var("AWS_LAMBDA_FUNCTION_NAME").is_some();
        Ok(Telemetry {
            log_format: choice(
                env,
                "REPORTQ_LOG_FORMAT",
                &[("json", LogFormat::Json), ("text", LogFormat::Text)],
                if stderr_is_terminal { LogFormat::Text } else { LogFormat::Json },
            )?,
            metrics: choice(
                env,
                "REPORTQ_METRICS",
                &[("off", MetricsMode::Off), ("on", MetricsMode::On), ("emf", MetricsMode::Emf)],
                if lambda { MetricsMode::Emf } else { MetricsMode::On },
            )?,
            role: choice(env, "REPORTQ_ROLE", &[("api", Role::Api), ("webhooks", Role::Webhooks)], Role::Api)?,
        })
    }

    /// What a process runs with when its settings are refused, for as long as it takes to say
    /// so.
    pub fn fallback(stderr_is_terminal: bool) -> Telemetry {
        Telemetry { log_format: if stderr_is_terminal { LogFormat::Text } else { LogFormat::Json }, metrics: MetricsMode::On, role: Role::Api }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_place_and_a_typo_names_its_variable() {
        let t = Telemetry::read(&Env::from_pairs([]), true).unwrap();
        assert_eq!((t.log_format, t.metrics, t.role), (LogFormat::Text, MetricsMode::On, Role::Api));
        let lambda = Telemetry::read(&Env::from_pairs([("AWS_LAMBDA_FUNCTION_NAME", "w")]), false).unwrap();
        assert_eq!((lambda.log_format, lambda.metrics), (LogFormat::Json, MetricsMode::Emf));
        let set = Telemetry::read(&Env::from_pairs([("REPORTQ_METRICS", "OFF"), ("REPORTQ_LOG_FORMAT", "json"), ("REPORTQ_ROLE", "webhooks")]), true)
            .unwrap();
        assert_eq!((set.log_format, set.metrics, set.role), (LogFormat::Json, MetricsMode::Off, Role::Webhooks));
        for (name, typo) in [("REPORTQ_METRICS", "emff"), ("REPORTQ_LOG_FORMAT", "jsonl"), ("REPORTQ_ROLE", "webhook")] {
            let e = Telemetry::read(&Env::from_pairs([(name, typo)]), false).unwrap_err();
            assert!(matches!(&e, ConfigError::Invalid { name: n, .. } if *n == name), "{e}");
            assert!(e.to_string().contains("must be one of"), "{e}");
        }
    }
}
