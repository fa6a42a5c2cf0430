//! Log output for every binary: `tracing` events, filtered like `RUST_LOG` (default `info`),
//! written to stderr as one JSON object a line (what Lambda and CloudWatch Logs Insights read,
//! and what the soak test parses) unless stderr is a terminal, where they read as text.
//! `REPORTQ_LOG_FORMAT=json|text` overrides the choice ([`crate::config::Telemetry`]).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{ConfigError, Env, LogFormat, Telemetry};

/// Reads [`Telemetry`], sets the metrics mode ([`crate::metrics`]) and installs the subscriber
/// once (later calls, in tests, do nothing). A refused setting is returned after a subscriber
/// is installed anyway, so that the binary can log why it stops.
pub fn init() -> Result<Telemetry, ConfigError> {
    let terminal = std::io::stderr().is_terminal();
    let read = Telemetry::read(&Env::process(), terminal);
    let t = read.clone().unwrap_or_else(|_| Telemetry::fallback(terminal));
    crate::metrics::set_mode(t.metrics);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match t.log_format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).flatten_event(true).try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
    read
}
