//! Structured JSON logs for CloudWatch Logs Insights: every line carries the invocation span's
//! fields (function, request_id, trace_id, event_id, correlation_id, causation_id, detail_type),
//! e.g. `fields @timestamp, span.event_id, message | filter span.correlation_id = "..."`.
//!
//! The function's logging configuration is honoured: `AWS_LAMBDA_LOG_LEVEL` (set by Lambda from
//! the function's application log level) wins over `RUST_LOG`, and `AWS_LAMBDA_LOG_FORMAT=Text`
//! writes plain lines instead of JSON.

use tracing_subscriber::filter::LevelFilter;

/// The level to log at: `AWS_LAMBDA_LOG_LEVEL` (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`,
/// `FATAL`), else `RUST_LOG` as one level, else `info`; and what was set but not understood.
pub fn level_from(lambda: Option<&str>, rust_log: Option<&str>) -> (LevelFilter, Option<String>) {
    let parse = |text: &str| match text.trim().to_ascii_lowercase().as_str() {
        "fatal" => Ok(LevelFilter::ERROR),
        other => other.parse::<LevelFilter>(),
    };
    for value in [lambda, rust_log].into_iter().flatten() {
        if value.trim().is_empty() {
            continue;
        }
        return match parse(value) {
            Ok(level) => (level, None),
            Err(_) => (LevelFilter::INFO, Some(value.to_owned())),
        };
    }
    (LevelFilter::INFO, None)
}

/// Installs the subscriber: JSON (or text under `AWS_LAMBDA_LOG_FORMAT=Text`) at the level of
/// [`level_from`]. One level, not per-module directives: those would pull a regex engine into
/// every function for no use. Safe to call twice.
pub fn init_json() {
    let lambda = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    let (level, not_understood) = level_from(lambda.as_deref(), rust_log.as_deref());
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    let _ = if text {
        builder.try_init()
    } else {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init()
    };
    if let Some(value) = not_understood {
        tracing::warn!(level = %value, "AWS_LAMBDA_LOG_LEVEL / RUST_LOG is not a single level; logging at info");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_functions_log_level_wins_over_rust_log() {
        assert_eq!(
            level_from(Some("DEBUG"), Some("error")).0,
            LevelFilter::DEBUG
        );
        assert_eq!(level_from(Some("FATAL"), None).0, LevelFilter::ERROR);
        assert_eq!(level_from(None, Some("warn")).0, LevelFilter::WARN);
        assert_eq!(level_from(None, None).0, LevelFilter::INFO);
        let (level, bad) = level_from(Some("loud"), None);
        assert_eq!((level, bad.as_deref()), (LevelFilter::INFO, Some("loud")));
    }
}
