//! The monitor's sweep, run by hand: the monitor function of a stage invoked with the payload its
//! schedule sends, so that exactly the scheduled code runs, with the function's own settings
//! (deadline, shadows), role and source. For incidents, and for LocalStack, where the schedule
//! never fires.

use aws_config::SdkConfig;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::error::OperationsError;
use crate::stage::Stage;

/// What one sweep did, as the monitor function answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRun {
    /// The function invoked.
    pub function: String,
    /// The id of this run's tick (`manual-sweep-<uuid>`).
    pub tick_id: String,
    /// The WorkflowFailed events it published: (type, event id).
    pub emitted: Vec<(String, String)>,
    /// How many of them EventBridge accepted.
    pub delivered: u64,
    /// How many were kept in the function's outbox instead.
    pub kept: u64,
}

/// The envelope EventBridge Scheduler delivers to the monitor (as the stack configures its
/// schedule), with a fresh id: each run is a new tick, never a duplicate of an earlier one.
pub fn manual_tick(region: &str) -> Value {
    json!({
        "version": "0",
        "id": format!("manual-sweep-{}", uuid::Uuid::new_v4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "",
        "time": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": region,
        "resources": [],
        "detail": {},
    })
}

/// Invokes `function` (default: the stage's monitor) with a [`manual_tick`] and waits for it.
pub async fn run_sweep(
    sdk: &SdkConfig,
    stage: &Stage,
    function: Option<String>,
) -> Result<SweepRun, OperationsError> {
    let function = function.unwrap_or_else(|| stage.function_name("monitor"));
    let region = alchemiser_aws::region_name(sdk);
    let tick = manual_tick(&region);
    let tick_id = tick["id"].as_str().unwrap_or_default().to_owned();
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let output = lambda
        .invoke()
        .function_name(&function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(tick.to_string()))
        .customize()
        // The sweep itself may run 20 s; a retry would run a second sweep.
        .config_override(
            aws_sdk_lambda::config::Builder::default()
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .timeout_config(
                    aws_config::timeout::TimeoutConfig::builder()
                        .operation_attempt_timeout(std::time::Duration::from_secs(90))
                        .operation_timeout(std::time::Duration::from_secs(90))
                        .build(),
                ),
        )
        .send()
        .await;
    let output = match output {
        Ok(output) => output,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Err(OperationsError::NoFunction {
                stage: stage.to_string(),
                function,
                region,
            })
        }
        Err(error) => {
            return Err(OperationsError::aws(
                format!("Invoke {function}"),
                &error,
                "Check that your role may invoke the stage's monitor (lambda:InvokeFunction)",
            ))
        }
    };
    let answer: Value = output
        .payload()
        .and_then(|payload| serde_json::from_slice(payload.as_ref()).ok())
        .unwrap_or(Value::Null);
    if let Some(kind) = output.function_error() {
        let text = |key: &str| answer.get(key).and_then(Value::as_str).unwrap_or("");
        return Err(OperationsError::SweepFailed {
            function,
            error: alchemiser_events::text::printable(&format!(
                "{kind}: {}: {}",
                text("errorType"),
                text("errorMessage")
            ))
            .into_owned(),
        });
    }
    let count = |key: &str| answer.get(key).and_then(Value::as_u64).unwrap_or(0);
    let emitted = answer
        .get("emitted")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|event| {
            let text = |key: &str| {
                event
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned()
            };
            (text("event_type"), text("event_id"))
        })
        .collect();
    Ok(SweepRun {
        function,
        tick_id,
        emitted,
        delivered: count("delivered"),
        kept: count("kept"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_tick_is_a_new_scheduler_tick_each_time() {
        let one = manual_tick("us-east-1");
        let two = manual_tick("us-east-1");
        assert_eq!(one["source"], "aws.scheduler");
        assert_eq!(one["detail-type"], "Scheduled Event");
        assert_ne!(one["id"], two["id"]);
        assert!(one["id"].as_str().unwrap().starts_with("manual-sweep-"));
    }
}
