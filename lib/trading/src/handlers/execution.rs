//! The execution handler: `RebalancePlanned` → `TradeExecuted` → `WorkflowCompleted` |
//! `WorkflowFailed`, placing the plan's orders — or, for a plan that is stale, made from an account
//! that has moved, or derived from an archive replay, refusing or dry-running it visibly.

use std::sync::Arc;

use alchemiser_bus::{Delivery, EventHandler, Handled, HandlerError};
use alchemiser_clock::Clock;
use alchemiser_events::{
    Event, EventType, HandlerName, RebalancePlanned, Timestamp, TradeExecuted, WorkflowCompleted,
    WorkflowFailed,
};
use async_trait::async_trait;
use serde_json::{json, Map, Value};

use super::{failed_workflow, follow, workflow_started_at, wrong_event, WORKFLOW_TYPE};
use crate::broker::Broker;
use crate::halt::{MemoryHalt, TradingHalt};
use crate::orders::{
    execute_plan, ExecutionMode, ExecutionReport, ExecutionSettings, PlanOutcome, Refusal, Venue,
    When,
};

/// This handler's name: its function, its `Source` module and its events' `source_module`.
const NAME: HandlerName = HandlerName::Execution;

/// The `idempotency_scope` of a dry run: its completion never stands for the live run.
pub const DRY_RUN_SCOPE: &str = "dry-run";

/// `RebalancePlanned` → `TradeExecuted` → `WorkflowCompleted` | `WorkflowFailed`.
#[derive(Clone)]
pub struct ExecutionHandler {
    broker: Arc<dyn Broker>,
    halt: Arc<dyn TradingHalt>,
    settings: ExecutionSettings,
    clock: Arc<dyn Clock>,
    shadow: bool,
    metrics: alchemiser_metrics::Metrics,
}

impl ExecutionHandler {
    /// An execution handler placing orders with `broker` under `settings`.
    pub fn new(broker: Arc<dyn Broker>, settings: ExecutionSettings) -> Self {
        Self {
            broker,
            halt: Arc::new(MemoryHalt::new()),
            settings,
            clock: alchemiser_clock::system(),
            shadow: false,
            metrics: alchemiser_metrics::Metrics::Off,
        }
    }

    /// Each refused plan is counted in `metrics` by its check (`PlansRefused`; an alarm per
    /// limit and for the halt watches it).
    pub fn with_metrics(mut self, metrics: alchemiser_metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reads the stage's kill switch from `halt` before every order (default: a switch in
    /// memory that is never flipped, for tests and local runs).
    pub fn with_halt(mut self, halt: Arc<dyn TradingHalt>) -> Self {
        self.halt = halt;
        self
    }

    /// Ages and waits are measured by `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A shadow of the live owner: every plan runs dry (no order, whatever the broker), so the
    /// outcome can be compared with the live one's.
    pub fn in_shadow(mut self) -> Self {
        self.shadow = true;
        self
    }

    /// Whether orders are placed for this plan: never in a shadow; never for a generated sample
    /// (it, or an event before it, came from `alchemiser publish --example`); not when it (or any
    /// event before it) came from an archive replay, unless the stage allows replay execution.
    pub fn mode_for(&self, planned: &RebalancePlanned) -> ExecutionMode {
        if self.shadow {
            return ExecutionMode::DryRun {
                reason: "shadow: the live owner of execution is another deployment".into(),
            };
        }
        let provenance = planned.header.provenance();
        if provenance.sample {
            return ExecutionMode::DryRun {
                reason: "a generated sample (`alchemiser publish --example`), not a decision of the system: samples never trade".into(),
            };
        }
        match provenance.replay_name {
            Some(replay) if !self.settings.allow_replay_execution => ExecutionMode::DryRun {
                reason: format!(
                    "derived from the archive replay `{replay}`; set ALLOW_REPLAY_EXECUTION=true to place orders on replays"
                ),
            },
            _ => ExecutionMode::Live,
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp(self.clock.now())
    }

    /// Executes one plan, or goes on executing it (a follow-up): the events once every order
    /// of it is final, or a request to look again later.
    pub async fn execute(
        &self,
        planned: &RebalancePlanned,
        mode: &ExecutionMode,
        delivery: &Delivery,
    ) -> Result<Handled, HandlerError> {
        let venue = Venue {
            broker: self.broker.as_ref(),
            halt: self.halt.as_ref(),
            clock: self.clock.as_ref(),
        };
        let outcome = execute_plan(
            &planned.rebalance_plan,
            venue,
            mode,
            &self.settings,
            When {
                deadline: delivery.deadline,
                // Carried in metadata from the workflow's first event; a plan from a producer
                // that does not carry it counts from the plan.
                workflow_started_at: workflow_started_at(&planned.header).0,
                check: delivery.check,
            },
        )
        .await?;
        Ok(match outcome {
            PlanOutcome::Executed(report) => self.executed(planned, &report).into(),
            PlanOutcome::Refused { refusal, report } => {
                self.refused(planned, &refusal, &report).into()
            }
            PlanOutcome::Pending { after, reason, .. } => {
                tracing::info!(plan_id = %planned.rebalance_plan.plan_id, ?after, %reason, "plan not done; checking again later");
                Handled::check_again(after, reason)
            }
        })
    }

    fn trade_executed(
        &self,
        planned: &RebalancePlanned,
        report: &ExecutionReport,
    ) -> TradeExecuted {
        let plan = &planned.rebalance_plan;
        let mut execution_data = Map::new();
        execution_data.insert("plan_id".into(), json!(plan.plan_id));
        execution_data.insert("dry_run".into(), json!(report.dry_run));
        if let Some(reason) = &report.dry_run_reason {
            execution_data.insert("dry_run_reason".into(), json!(reason));
        }
        // Read by the Python system's consumers.
        execution_data.insert(
            "total_trade_value".into(),
            json!(report.total_trade_value()),
        );
        if report.resumed > 0 {
            execution_data.insert("orders_resumed".into(), json!(report.resumed));
        }
        execution_data.insert(
            "orders".into(),
            serde_json::to_value(&report.orders).unwrap_or(Value::Null),
        );
        let failure_reason = report.failure_reason();
        TradeExecuted {
            header: follow(
                &planned.header,
                EventType::TradeExecuted,
                NAME.as_str(),
                self.now(),
            ),
            execution_data,
            success: failure_reason.is_none(),
            orders_placed: report.orders_placed(),
            orders_succeeded: report.orders_succeeded(),
            failure_reason,
            failed_symbols: report.failed_symbols(),
        }
    }

    fn executed(&self, planned: &RebalancePlanned, report: &ExecutionReport) -> Vec<Event> {
        let plan = &planned.rebalance_plan;
        let executed = self.trade_executed(planned, report);
        let finale = match executed.failure_reason.clone() {
            None => self.completed(planned, &executed, report),
            Some(reason) => Event::from(WorkflowFailed {
                header: follow(
                    &executed.header,
                    EventType::WorkflowFailed,
                    NAME.as_str(),
                    self.now(),
                ),
                workflow_type: WORKFLOW_TYPE.into(),
                failure_reason: reason,
                failure_step: NAME.as_str().into(),
                error_details: object(json!({
                    "plan_id": plan.plan_id,
                    "failed_symbols": executed.failed_symbols,
                    "orders_placed": executed.orders_placed,
                    "orders_succeeded": executed.orders_succeeded,
                })),
            }),
        };
        vec![executed.into(), finale]
    }

    fn completed(
        &self,
        planned: &RebalancePlanned,
        executed: &TradeExecuted,
        report: &ExecutionReport,
    ) -> Event {
        let header = follow(
            &executed.header,
            EventType::WorkflowCompleted,
            NAME.as_str(),
            self.now(),
        );
        let started_at = workflow_started_at(&planned.header);
        let duration = u64::try_from((header.timestamp.0 - started_at.0).num_milliseconds())
            .unwrap_or_default();
        Event::from(WorkflowCompleted {
            workflow_type: WORKFLOW_TYPE.into(),
            workflow_duration_ms: duration,
            success: true,
            summary: object(json!({
                "plan_id": planned.rebalance_plan.plan_id,
                "trades_required": planned.trades_required,
                "orders_placed": executed.orders_placed,
                "orders_succeeded": executed.orders_succeeded,
                "total_trade_value": report.total_trade_value(),
                "dry_run": report.dry_run,
            })),
            header,
        })
    }

    /// A plan not traded, or stopped after it started: the workflow fails, naming the check,
    /// the numbers, and every order the plan had placed with what it filled (reported in a
    /// TradeExecuted too, so the fills are never left out of the workflow's record).
    fn refused(
        &self,
        planned: &RebalancePlanned,
        refusal: &Refusal,
        report: &ExecutionReport,
    ) -> Vec<Event> {
        let plan = &planned.rebalance_plan;
        tracing::warn!(plan_id = %plan.plan_id, check = refusal.check(), %refusal, "plan refused");
        self.metrics.refused(refusal.check());
        let placed = report.placed_summary();
        let mut events = Vec::new();
        let mut cause = &planned.header;
        let executed;
        if placed.is_some() {
            executed = self.trade_executed(planned, report);
            events.push(Event::from(executed.clone()));
            cause = &executed.header;
        }
        let failure_reason = match &placed {
            None => format!("plan {} refused: {refusal}; no order placed", plan.plan_id),
            Some(placed) => format!(
                "plan {} stopped after it started: {refusal}; nothing more placed, open orders canceled; placed before: {placed}",
                plan.plan_id
            ),
        };
        let mut error_details = object(json!({
            "plan_id": plan.plan_id,
            "check": refusal.check(),
            "plan_timestamp": plan.timestamp,
            "orders_placed": report.orders_placed(),
            "orders_filled": report.orders_succeeded(),
            "orders": report.orders,
        }));
        // A limit names itself, its value and the number that broke it, for alarms and people.
        if let Some(breach) = refusal.breach() {
            error_details.insert("limit".into(), json!(breach.limit));
            error_details.insert("configured".into(), json!(breach.configured));
            error_details.insert("actual".into(), json!(breach.actual));
        }
        events.push(Event::from(WorkflowFailed {
            header: follow(cause, EventType::WorkflowFailed, NAME.as_str(), self.now()),
            workflow_type: WORKFLOW_TYPE.into(),
            failure_reason,
            failure_step: NAME.as_str().into(),
            error_details,
        }));
        events
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[async_trait]
impl EventHandler for ExecutionHandler {
    fn name(&self) -> &str {
        NAME.as_str()
    }

    async fn handle(&self, event: &Event, delivery: &Delivery) -> Result<Handled, HandlerError> {
        match event {
            Event::RebalancePlanned(planned) => {
                self.execute(planned, &self.mode_for(planned), delivery)
                    .await
            }
            other => Err(wrong_event(NAME.as_str(), other)),
        }
    }

    fn idempotency_scope(&self, event: &Event) -> Option<&'static str> {
        match event {
            Event::RebalancePlanned(planned) => {
                matches!(self.mode_for(planned), ExecutionMode::DryRun { .. })
                    .then_some(DRY_RUN_SCOPE)
            }
            _ => None,
        }
    }

    fn on_permanent_failure(&self, event: &Event, reason: &str, dead_letter: &str) -> Vec<Event> {
        vec![failed_workflow(
            event.header(),
            NAME.as_str(),
            reason,
            dead_letter,
            self.now(),
        )]
    }

    /// One plan per account at a time: two plans placing orders at once would each size their
    /// buys from the same cash.
    fn exclusive_group(&self, event: &Event) -> Option<String> {
        match event {
            Event::RebalancePlanned(planned) if self.mode_for(planned) == ExecutionMode::Live => {
                Some("broker-account".into())
            }
            _ => None,
        }
    }
}
