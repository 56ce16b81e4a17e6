//! CloudWatch Embedded Metric Format: one JSON line on stdout per measurement, which CloudWatch
//! Logs turns into metrics in namespace `Alchemiser/EventBridge` with dimensions `stage` and
//! `function` (failures also by `failure_class`). No API calls, no extra latency.

#![warn(missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

/// The namespace every metric is written to (the dashboard reads it).
pub const NAMESPACE: &str = "Alchemiser/EventBridge";

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

    /// A failure of `class` (`permanent` or `transient`).
    pub fn failure(&self, class: &str) {
        self.write(&[("Failures", json!(1), "Count")], Some(class));
    }

    /// Any measurements: `(name, value, unit)` each, with the `failure_class` dimension when
    /// given.
    pub fn emit(&self, values: &[(&str, Value, &str)], failure_class: Option<&str>) {
        self.write(values, failure_class);
    }

    fn write(&self, values: &[(&str, Value, &str)], failure_class: Option<&str>) {
        let (stage, function) = match self {
            Metrics::Off => return,
            Metrics::Emf { stage, function }
            | Metrics::Capture {
                stage, function, ..
            } => (stage, function),
        };
        let line = render(
            stage,
            function,
            values,
            failure_class,
            chrono::Utc::now().timestamp_millis(),
        );
        match self {
            Metrics::Capture { lines, .. } => {
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line)
            }
            _ => println!("{line}"),
        }
    }
}

/// One EMF document.
pub fn render(
    stage: &str,
    function: &str,
    values: &[(&str, Value, &str)],
    failure_class: Option<&str>,
    timestamp_ms: i64,
) -> String {
    let mut dimensions = vec![json!(["stage", "function"])];
    let mut document = Map::new();
    document.insert("stage".into(), json!(stage));
    document.insert("function".into(), json!(function));
    if let Some(class) = failure_class {
        dimensions.push(json!(["stage", "function", "failure_class"]));
        document.insert("failure_class".into(), json!(class));
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
