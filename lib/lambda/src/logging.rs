//! Structured JSON logs for CloudWatch Logs Insights: every line carries the invocation span's
//! fields (function, event_id, correlation_id, causation_id, detail_type), e.g.
//! `fields @timestamp, span.event_id, message | filter span.correlation_id = "..."`.

/// Installs the JSON subscriber (level from `RUST_LOG`, default `info`). Safe to call twice.
pub fn init_json() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}
