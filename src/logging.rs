//! Log output for every binary: `tracing` events, filtered like `RUST_LOG` (default `info`),
//! written to stderr as one JSON object a line (what Lambda and CloudWatch Logs Insights read,
//! and what the soak test parses) unless stderr is a terminal, where they read as text.
//! `REPORTQ_LOG_FORMAT=json|text` overrides the choice.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber once (later calls, in tests, do nothing) and sets the metrics mode
/// from `REPORTQ_METRICS` ([`crate::metrics`]).
pub fn init() {
    crate::metrics::init_from_env();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match std::env::var("REPORTQ_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ =
        if json { builder.json().with_current_span(true).with_span_list(false).flatten_event(true).try_init() } else { builder.compact().try_init() };
}
