//! The execution handler: `RebalancePlanned` → `TradeExecuted` → `WorkflowCompleted` |
//! `WorkflowFailed`, placing the plan's orders.

use std::sync::Arc;

use alchemiser_bus::{Delivery, EventHandler, HandlerError};
use alchemiser_events::{
    Event, EventType, RebalancePlanned, TradeExecuted, WorkflowCompleted, WorkflowFailed,
};
use async_trait::async_trait;
use serde_json::{json, Map, Value};

use super::{follow, workflow_started_at, wrong_event, WORKFLOW_TYPE};
use crate::broker::Broker;
use crate::orders::{execute_plan, ExecutionMode};

/// `RebalancePlanned` → `TradeExecuted` → `WorkflowCompleted` | `WorkflowFailed`.
pub struct ExecutionHandler {
    broker: Arc<dyn Broker>,
    allow_replay_execution: bool,
}

impl ExecutionHandler {
    /// An execution handler placing orders with `broker`. Replayed events place orders only when
    /// `allow_replay_execution` is set.
    pub fn new(broker: Arc<dyn Broker>, allow_replay_execution: bool) -> Self {
        Self {
            broker,
            allow_replay_execution,
        }
    }

    /// Whether orders are placed for this delivery.
    pub fn mode_for(&self, delivery: &Delivery) -> ExecutionMode {
        match &delivery.replay_name {
            Some(replay) if !self.allow_replay_execution => ExecutionMode::DryRun {
                reason: format!(
                    "replayed from the archive by `{replay}`; set ALLOW_REPLAY_EXECUTION=true to place orders on replays"
                ),
            },
            _ => ExecutionMode::Live,
        }
    }

    /// Executes one plan.
    pub async fn execute(
        &self,
        planned: &RebalancePlanned,
        mode: &ExecutionMode,
    ) -> Result<Vec<Event>, HandlerError> {
        let report = execute_plan(&planned.rebalance_plan, self.broker.as_ref(), mode).await?;
        let mut execution_data = Map::new();
        execution_data.insert("plan_id".into(), json!(planned.rebalance_plan.plan_id));
        execution_data.insert("dry_run".into(), json!(report.dry_run));
        if let Some(reason) = &report.dry_run_reason {
            execution_data.insert("dry_run_reason".into(), json!(reason));
        }
        execution_data.insert(
            "orders".into(),
            serde_json::to_value(&report.orders).unwrap_or(Value::Null),
        );
        let failure_reason = report.failure_reason();
        let executed = TradeExecuted {
            header: follow(&planned.header, EventType::TradeExecuted, "execution"),
            execution_data,
            success: failure_reason.is_none(),
            orders_placed: report.orders_placed(),
            orders_succeeded: report.orders_succeeded(),
            failure_reason: failure_reason.clone(),
            failed_symbols: report.failed_symbols(),
        };
        let started_at = workflow_started_at(&planned.header);
        let finale = match failure_reason {
            None => {
                let header = follow(&executed.header, EventType::WorkflowCompleted, "execution");
                let duration = (header.timestamp.0 - started_at.0)
                    .num_milliseconds()
                    .max(0) as u64;
                Event::from(WorkflowCompleted {
                    workflow_type: WORKFLOW_TYPE.into(),
                    workflow_duration_ms: duration,
                    success: true,
                    summary: json!({
                        "plan_id": planned.rebalance_plan.plan_id,
                        "trades_required": planned.trades_required,
                        "orders_placed": executed.orders_placed,
                        "orders_succeeded": executed.orders_succeeded,
                        "total_trade_value": planned.rebalance_plan.total_trade_value,
                        "dry_run": report.dry_run,
                    })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                    header,
                })
            }
            Some(reason) => Event::from(WorkflowFailed {
                header: follow(&executed.header, EventType::WorkflowFailed, "execution"),
                workflow_type: WORKFLOW_TYPE.into(),
                failure_reason: reason,
                failure_step: "execution".into(),
                error_details: json!({
                    "plan_id": planned.rebalance_plan.plan_id,
                    "failed_symbols": executed.failed_symbols,
                    "orders_placed": executed.orders_placed,
                    "orders_succeeded": executed.orders_succeeded,
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            }),
        };
        Ok(vec![executed.into(), finale])
    }
}

#[async_trait]
impl EventHandler for ExecutionHandler {
    fn name(&self) -> &str {
        "execution"
    }

    async fn handle(&self, event: &Event, delivery: &Delivery) -> Result<Vec<Event>, HandlerError> {
        match event {
            Event::RebalancePlanned(planned) => {
                self.execute(planned, &self.mode_for(delivery)).await
            }
            other => Err(wrong_event("execution", other)),
        }
    }
}
