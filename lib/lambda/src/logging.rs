//! Structured JSON logs for CloudWatch Logs Insights: every line carries the invocation span's
//! fields (function, event_id, correlation_id, causation_id, detail_type), e.g.
//! `fields @timestamp, span.event_id, message | filter span.correlation_id = "..."`.

use tracing_subscriber::filter::LevelFilter;

/// Installs the JSON subscriber. `RUST_LOG` is one level (`error`, `warn`, `info`, `debug`,
/// `trace`, `off`; default `info`): per-module directives would pull a regex engine into every
/// function for no use. Safe to call twice.
pub fn init_json() {
    let configured = std::env::var("RUST_LOG").ok();
    let level = configured
        .as_deref()
        .map(str::parse::<LevelFilter>)
        .unwrap_or(Ok(LevelFilter::INFO));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(*level.as_ref().unwrap_or(&LevelFilter::INFO))
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .try_init();
    if let (Some(value), Err(_)) = (configured, level) {
        tracing::warn!(rust_log = %value, "RUST_LOG is not a single level; logging at info");
    }
}
