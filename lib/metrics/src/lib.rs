//! CloudWatch Embedded Metric Format: one JSON line on stdout per measurement, which CloudWatch
//! Logs turns into metrics in namespace `Alchemiser/EventBridge` with dimensions `stage` and
//! `function` (failures also by `failure_class`). No API calls, no extra latency. A line written
//! while an invocation runs ([`during`]) also carries its Lambda request id and X-Ray trace id
//! (properties, not dimensions), so a metric's data point leads to its logs and its trace.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

/// The namespace every metric is written to (the dashboard reads it).
pub const NAMESPACE: &str = "Alchemiser/EventBridge";

/// The ids of the invocation a measurement belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// Lambda's request id.
    pub request_id: String,
    /// The X-Ray trace header, when tracing is on.
    pub trace_id: Option<String>,
}

tokio::task_local! {
    static INVOCATION: Invocation;
}

/// Runs `work` as the invocation `ids`: the metric lines it writes carry them.
pub async fn during<F: std::future::Future>(ids: Invocation, work: F) -> F::Output {
    INVOCATION.scope(ids, work).await
}

/// Orders an invocation's outcome events report (`TradeExecuted`): placed, and failed or skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderCounts {
    /// Orders sent to the broker.
    pub placed: u32,
    /// Orders that failed or were skipped (an alarm watches this).
    pub failed: u32,
}

/// Where metric lines go.
#[derive(Clone, Default)]
pub enum Metrics {
    /// Nowhere (the CLI, whose stdout carries events).
    #[default]
    Off,
    /// EMF lines on stdout (Lambda).
    Emf {
        /// Deployment stage.
        stage: String,
        /// Function name (`portfolio`, ...).
        function: String,
    },
    /// EMF lines kept in memory (tests).
    Capture {
        /// Deployment stage.
        stage: String,
        /// Function name.
        function: String,
        /// The lines written.
        lines: Arc<Mutex<Vec<String>>>,
    },
}

impl Metrics {
    /// EMF on stdout for `stage` and `function`.
    pub fn emf(stage: impl Into<String>, function: impl Into<String>) -> Self {
        Metrics::Emf {
            stage: stage.into(),
            function: function.into(),
        }
    }

    /// One event handled: count, latency, and the orders its outcome reports placed and failed.
    pub fn handled(&self, latency: Duration, orders: OrderCounts) {
        self.write(
            &[
                ("EventsHandled", json!(1), "Count"),
                (
                    "HandlerLatencyMs",
                    json!(latency.as_secs_f64() * 1000.0),
                    "Milliseconds",
                ),
                ("OrdersPlaced", json!(orders.placed), "Count"),
                ("OrdersFailed", json!(orders.failed), "Count"),
            ],
            None,
        );
    }

    /// A duplicate delivery skipped.
    pub fn duplicate(&self) {
        self.write(&[("DuplicatesSkipped", json!(1), "Count")], None);
    }

    /// The first invocation of this execution environment (a cold start).
    pub fn cold_start(&self) {
        self.write(&[("ColdStart", json!(1), "Count")], None);
    }

    /// A failure of `class` (`permanent` or `transient`).
    pub fn failure(&self, class: &str) {
        self.write(&[("Failures", json!(1), "Count")], Some(class));
    }

    /// A plan refused by execution's check `check` (`max_order_notional`, `halted`, ...):
    /// `PlansRefused`, by stage and function, and by stage, function and check (one alarm per
    /// limit watches the latter).
    pub fn refused(&self, check: &str) {
        self.write_dimension(
            &[("PlansRefused", json!(1), "Count")],
            Some(("check", check)),
        );
    }

    /// Any measurements: `(name, value, unit)` each, with the `failure_class` dimension when
    /// given.
    pub fn emit(&self, values: &[(&str, Value, &str)], failure_class: Option<&str>) {
        self.write(values, failure_class);
    }

    fn write(&self, values: &[(&str, Value, &str)], failure_class: Option<&str>) {
        self.write_dimension(values, failure_class.map(|class| ("failure_class", class)));
    }

    fn write_dimension(&self, values: &[(&str, Value, &str)], extra: Option<(&str, &str)>) {
        let (stage, function) = match self {
            Metrics::Off => return,
            Metrics::Emf { stage, function }
            | Metrics::Capture {
                stage, function, ..
            } => (stage, function),
        };
        let mut line = render_with(
            stage,
            function,
            values,
            extra,
            chrono::Utc::now().timestamp_millis(),
        );
        if let Ok(ids) = INVOCATION.try_with(Invocation::clone) {
            line = with_invocation(&line, &ids);
        }
        match self {
            Metrics::Capture { lines, .. } => {
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line)
            }
            _ => println!("{line}"),
        }
    }
}

/// An EMF line with the invocation's ids added as properties.
fn with_invocation(line: &str, ids: &Invocation) -> String {
    let Ok(Value::Object(mut document)) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    document.insert("request_id".into(), json!(ids.request_id));
    if let Some(trace) = &ids.trace_id {
        document.insert("trace_id".into(), json!(trace));
    }
    Value::Object(document).to_string()
}

/// One EMF document.
pub fn render(
    stage: &str,
    function: &str,
    values: &[(&str, Value, &str)],
    failure_class: Option<&str>,
    timestamp_ms: i64,
) -> String {
    render_with(
        stage,
        function,
        values,
        failure_class.map(|class| ("failure_class", class)),
        timestamp_ms,
    )
}

/// One EMF document, by stage and function, and also by a third dimension `(name, value)`.
fn render_with(
    stage: &str,
    function: &str,
    values: &[(&str, Value, &str)],
    extra: Option<(&str, &str)>,
    timestamp_ms: i64,
) -> String {
    let mut dimensions = vec![json!(["stage", "function"])];
    let mut document = Map::new();
    document.insert("stage".into(), json!(stage));
    document.insert("function".into(), json!(function));
    if let Some((name, value)) = extra {
        dimensions.push(json!(["stage", "function", name]));
        document.insert(name.into(), json!(value));
    }
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    for (name, value, _) in values {
        document.insert((*name).into(), value.clone());
    }
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": metrics,
            }]
        }),
    );
    Value::Object(document).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_counted_by_its_check() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let metrics = Metrics::Capture {
            stage: "prod".into(),
            function: "execution".into(),
            lines: lines.clone(),
        };
        metrics.refused("max_daily_orders");
        let line: Value = serde_json::from_str(&lines.lock().unwrap()[0]).unwrap();
        assert_eq!(line["PlansRefused"], 1);
        assert_eq!(line["check"], "max_daily_orders");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["stage", "function"], ["stage", "function", "check"]])
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "PlansRefused", "Unit": "Count"}])
        );
    }

    #[tokio::test]
    async fn lines_written_during_an_invocation_carry_its_ids() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let metrics = Metrics::Capture {
            stage: "dev".into(),
            function: "portfolio".into(),
            lines: lines.clone(),
        };
        metrics.duplicate();
        let ids = Invocation {
            request_id: "req-1".into(),
            trace_id: Some("Root=1-abc-def;Sampled=1".into()),
        };
        during(ids, async { metrics.cold_start() }).await;
        let lines = lines.lock().unwrap().clone();
        let outside: Value = serde_json::from_str(&lines[0]).unwrap();
        let inside: Value = serde_json::from_str(&lines[1]).unwrap();
        assert!(outside.get("request_id").is_none());
        assert_eq!(inside["request_id"], "req-1");
        assert_eq!(inside["trace_id"], "Root=1-abc-def;Sampled=1");
        assert_eq!(inside["ColdStart"], 1);
        assert_eq!(
            inside["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["stage", "function"]])
        );
    }
}
