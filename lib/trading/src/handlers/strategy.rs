//! The strategy handler: starts a workflow for a target allocation — on a scheduled tick only
//! when the broker's calendar says it is today's run time (see `crate::schedule`).

use std::sync::Arc;

use alchemiser_bus::{HandlerError, TriggerHandler};
use alchemiser_clock::Clock;
use alchemiser_events::{
    ConsolidatedPortfolio, Decimal, Event, EventHeader, EventType, HandlerName, SignalGenerated,
    SymbolMap, Timestamp, WorkflowStarted, SCHEMA_VERSION,
};
use async_trait::async_trait;
use serde_json::{json, Map, Value};
use thiserror::Error;

use super::{failed_workflow, follow, WORKFLOW_STARTED_AT, WORKFLOW_TYPE};
use crate::broker::{Broker, BrokerError};
use crate::schedule::{new_york_date, todays_run, RunAt, RunDecision};

/// This handler's name: its function, its `Source` module and its events' `source_module`.
const NAME: HandlerName = HandlerName::Strategy;

/// The `source` of the envelopes EventBridge Scheduler delivers (as the stack configures them).
const SCHEDULER_SOURCE: &str = "aws.scheduler";

/// Emits `WorkflowStarted` then `SignalGenerated` for a fixed target allocation.
pub struct StrategyHandler {
    allocation: SymbolMap<Decimal>,
    strategy_name: String,
    clock: Arc<dyn Clock>,
    schedule: Option<(RunAt, Arc<dyn Broker>)>,
}

impl StrategyHandler {
    /// A strategy that always targets `allocation` (symbol → weight).
    pub fn new(allocation: SymbolMap<Decimal>, strategy_name: impl Into<String>) -> Self {
        Self {
            allocation,
            strategy_name: strategy_name.into(),
            clock: alchemiser_clock::system(),
            schedule: None,
        }
    }

    /// Scheduled ticks start a workflow only at `run_at` on a trading day of `calendar`'s (the
    /// broker's calendar; read-only access is all it needs). A manual start is not judged by
    /// the schedule: it runs when a person asks, and execution refuses a closed market visibly.
    pub fn with_schedule(mut self, run_at: RunAt, calendar: Arc<dyn Broker>) -> Self {
        self.schedule = Some((run_at, calendar));
        self
    }

    /// Whether `payload` starts a workflow now: always for a manual start (or without a
    /// schedule); for the scheduler's tick, when the broker's calendar says it is today's run.
    pub async fn decide(&self, payload: &Value) -> Result<RunDecision, HandlerError> {
        let Some((run_at, calendar)) = &self.schedule else {
            return Ok(RunDecision::Run);
        };
        if payload.get("source").and_then(Value::as_str) != Some(SCHEDULER_SOURCE) {
            return Ok(RunDecision::Run);
        }
        let now = self.clock.now();
        let today = new_york_date(now);
        let sessions = calendar
            .trading_days(today, today)
            .await
            .map_err(|error| match error {
                BrokerError::Permanent(why) => HandlerError::Permanent(format!(
                    "the broker's calendar cannot say whether {today} trades: {why}"
                )),
                other => HandlerError::Transient(format!("the broker's calendar: {other}")),
            })?;
        Ok(todays_run(*run_at, now, &sessions))
    }

    /// Triggers are timed by `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Reads a target-allocation file: either `{"SPY": "0.6", "TLT": "0.4"}` or
    /// `{"strategy": "name", "target_allocations": {...}}`. Errors name the field at fault.
    pub fn from_allocation_json(text: &str) -> Result<Self, AllocationError> {
        #[derive(serde::Deserialize)]
        struct Named {
            #[serde(default = "default_strategy_name")]
            strategy: String,
            target_allocations: SymbolMap<Decimal>,
        }
        let value: Value = serde_json::from_str(text).map_err(AllocationError::NotJson)?;
        let named = if value.get("target_allocations").is_some() {
            serde_json::from_value::<Named>(value)
        } else {
            serde_json::from_value::<SymbolMap<Decimal>>(value).map(|target_allocations| Named {
                strategy: default_strategy_name(),
                target_allocations,
            })
        }
        .map_err(AllocationError::NotAnAllocation)?;
        Ok(Self::new(named.target_allocations, named.strategy))
    }

    /// Starts one workflow run at `at`. With a `trigger_id` (a schedule's execution id) the
    /// workflow's ids derive from it, so the same tick delivered twice starts the same workflow.
    /// The allocation is validated here, so a bad allocation file is reported before anything is
    /// published.
    pub fn start(
        &self,
        requested_by: &str,
        at: Timestamp,
        trigger_id: Option<&str>,
    ) -> Result<Vec<Event>, HandlerError> {
        let mut started_header =
            EventHeader::start_workflow(EventType::WorkflowStarted, NAME.as_str(), at, trigger_id);
        let started_at = started_header.timestamp.to_wire();
        started_header
            .metadata
            .get_or_insert_with(Map::new)
            .insert(WORKFLOW_STARTED_AT.into(), json!(started_at));
        let started = WorkflowStarted {
            header: started_header,
            workflow_type: WORKFLOW_TYPE.into(),
            requested_by: requested_by.into(),
            configuration: json!({ "strategy": self.strategy_name })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let header = follow(
            &started.header,
            EventType::SignalGenerated,
            NAME.as_str(),
            at,
        );
        let signal = SignalGenerated {
            signals_data: json!({
                self.strategy_name.clone(): {
                    "action": "REBALANCE",
                    "target_allocations": self.allocation,
                }
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
            consolidated_portfolio: ConsolidatedPortfolio {
                target_allocations: self.allocation.clone(),
                correlation_id: header.correlation_id.clone(),
                timestamp: header.timestamp,
                strategy_count: 1,
                source_strategies: vec![self.strategy_name.clone()],
                schema_version: SCHEMA_VERSION.into(),
                constraints: None,
            },
            signal_count: 1,
            header,
        };
        let events = vec![Event::from(started), Event::from(signal)];
        for event in &events {
            event
                .validate()
                .map_err(|e| HandlerError::Permanent(format!("target allocation rejected: {e}")))?;
        }
        Ok(events)
    }
}

/// Started by the schedule (an EventBridge Scheduler envelope: its `id` is the execution id, its
/// `source` who asked) or by hand (`{}`, or `{"id": "..."}`). The allocation is the stage's
/// (`STRATEGY_ALLOCATION`) and nothing else: a payload that names one is refused, because whoever
/// may invoke the function is not thereby allowed to choose what the account holds.
#[async_trait]
impl TriggerHandler for StrategyHandler {
    fn trigger_key(&self, payload: &Value) -> Option<String> {
        payload.get("id").and_then(Value::as_str).map(str::to_owned)
    }

    async fn handle(&self, payload: &Value) -> Result<Vec<Event>, HandlerError> {
        if let RunDecision::Skip(why) = self.decide(payload).await? {
            // One line, no workflow: the tick is recorded as handled, so its retries skip too.
            tracing::info!(skipped = %why, "scheduled tick starts no workflow: {why}");
            return Ok(Vec::new());
        }
        let requested_by = payload
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or("manual invocation");
        let named = payload.get("target_allocations").or_else(|| {
            payload
                .get("detail")
                .and_then(|d| d.get("target_allocations"))
        });
        if named.is_some() {
            return Err(HandlerError::Permanent(
                "a start may not name an allocation (`target_allocations`): the strategy trades the stage's \
                 allocation (STRATEGY_ALLOCATION), which only a deploy changes; start it with {} or {\"id\": \"...\"}"
                    .into(),
            ));
        }
        let trigger = self.trigger_key(payload);
        let at = Timestamp(self.clock.now());
        self.start(requested_by, at, trigger.as_deref())
    }

    /// A run that could not start still shows as a workflow, started and failed at `strategy`.
    fn on_permanent_failure(&self, payload: &Value, reason: &str, dead_letter: &str) -> Vec<Event> {
        let at = Timestamp(self.clock.now());
        let trigger = self.trigger_key(payload);
        let requested_by = payload
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or("manual invocation");
        // Its ids must not be the ones a successful start of the same trigger would have had:
        // an earlier attempt may have started that workflow.
        let failed_trigger = trigger.map(|key| format!("{key}#failed-start"));
        let started = WorkflowStarted {
            header: EventHeader::start_workflow(
                EventType::WorkflowStarted,
                NAME.as_str(),
                at,
                failed_trigger.as_deref(),
            ),
            workflow_type: WORKFLOW_TYPE.into(),
            requested_by: requested_by.into(),
            configuration: Map::new(),
        };
        let failed = failed_workflow(&started.header, NAME.as_str(), reason, dead_letter, at);
        vec![started.into(), failed]
    }
}

fn default_strategy_name() -> String {
    "static".into()
}

/// A target allocation that cannot be read.
#[derive(Debug, Error)]
pub enum AllocationError {
    /// The text is not JSON.
    #[error("not valid JSON")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but not symbol → weight.
    #[error(
        "not a target allocation (symbol → weight, e.g. {{\"SPY\": \"0.6\", \"TLT\": \"0.4\"}})"
    )]
    NotAnAllocation(#[source] serde_json::Error),
}
