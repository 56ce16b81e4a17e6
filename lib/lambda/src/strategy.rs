//! The strategy function: started by the schedule (or by hand), it starts one workflow.

use std::sync::Arc;

use alchemiser_bus::EventBus;
use alchemiser_events::HandlerName;
use alchemiser_trading::StrategyHandler;
use serde_json::Value;
use tracing::Instrument;

use crate::failure::FailureSink;
use crate::idempotency::IdempotencyStore;
use crate::invoker::{FailureContext, InvocationError, InvocationOutcome, Invoke, Pipeline};
use crate::metrics::Metrics;

/// What the strategy function returns.
pub type StrategyOutcome = InvocationOutcome;

/// Starts workflows from a schedule event or a manual payload.
///
/// - A scheduled event (EventBridge Scheduler or a rule: it has an `id`) starts at most one
///   workflow per id, so a duplicate delivery of the same tick trades once.
/// - A manual payload may carry `target_allocations` (top level or under `detail`) to override
///   the configured allocation; without an `id` every manual invocation starts a workflow.
pub struct StrategyInvoker {
    pipeline: Pipeline,
    strategy: Arc<StrategyHandler>,
}

impl StrategyInvoker {
    /// A strategy invoker with its default allocation.
    pub fn new(
        strategy: StrategyHandler,
        store: Arc<dyn IdempotencyStore>,
        bus: Arc<dyn EventBus>,
        failures: Arc<dyn FailureSink>,
        metrics: Metrics,
    ) -> Self {
        Self {
            pipeline: Pipeline {
                function: HandlerName::Strategy,
                store,
                bus,
                failures,
                metrics,
            },
            strategy: Arc::new(strategy),
        }
    }
}

#[async_trait::async_trait]
impl Invoke for StrategyInvoker {
    /// Starts one workflow for `payload`.
    async fn invoke(&self, payload: Value) -> Result<StrategyOutcome, InvocationError> {
        let trigger_id = payload.get("id").and_then(Value::as_str).map(str::to_owned);
        let requested_by = payload
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or("manual invocation")
            .to_owned();
        let span = tracing::info_span!(
            "invocation",
            function = "strategy",
            trigger_id = trigger_id.as_deref().unwrap_or(""),
            requested_by = %requested_by,
        );
        async {
            let override_allocation = payload.get("target_allocations").or_else(|| {
                payload
                    .get("detail")
                    .and_then(|d| d.get("target_allocations"))
            });
            let strategy = match override_allocation {
                None => self.strategy.clone(),
                Some(allocation) => {
                    match StrategyHandler::from_allocation_json(&allocation.to_string()) {
                        Ok(strategy) => Arc::new(strategy),
                        Err(reason) => {
                            return self
                                .pipeline
                                .permanent(
                                    &payload,
                                    FailureContext::default(),
                                    format!("target_allocations: {reason}"),
                                )
                                .await
                        }
                    }
                }
            };
            let key = trigger_id.map(|id| format!("strategy#{id}"));
            let work = async move { strategy.start(&requested_by) };
            self.pipeline
                .guarded(key, &payload, FailureContext::default(), work)
                .await
        }
        .instrument(span)
        .await
    }
}
