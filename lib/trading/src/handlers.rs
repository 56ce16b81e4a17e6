//! The four workflow handlers, over the bus and broker ports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use alchemiser_bus::{Delivery, EventBus, EventHandler, HandlerError};
use alchemiser_events::{
    ConsolidatedPortfolio, Decimal, Event, EventHeader, EventType, HandlerName, RebalancePlan,
    RebalancePlanned, SignalGenerated, SymbolMap, Timestamp, TradeExecuted, WorkflowCompleted,
    WorkflowFailed, WorkflowStarted, ROUTES, SCHEMA_VERSION,
};
use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::broker::{Broker, BrokerError};
use crate::execution::{execute_plan, ExecutionMode};
use crate::planner::{plan_rebalance, PlannerConfig, PortfolioSnapshot};

/// The `workflow_type` of every event this crate emits.
pub const WORKFLOW_TYPE: &str = "trading";

/// Metadata key carrying the workflow's start time from event to event, so that the last step
/// can report the whole workflow's duration without a shared store.
const WORKFLOW_STARTED_AT: &str = "workflow_started_at";

impl From<BrokerError> for HandlerError {
    fn from(error: BrokerError) -> Self {
        match error {
            BrokerError::Transient(reason) => HandlerError::Transient(reason),
            BrokerError::Permanent(reason) => HandlerError::Permanent(reason),
        }
    }
}

/// A header for an event caused by `cause`, carrying the workflow's start time along.
fn follow(cause: &EventHeader, event_type: EventType, module: &str) -> EventHeader {
    let mut header = EventHeader::caused_by(cause, event_type, module);
    let started = cause
        .metadata
        .as_ref()
        .and_then(|m| m.get(WORKFLOW_STARTED_AT))
        .cloned()
        .unwrap_or_else(|| json!(cause.timestamp.to_wire()));
    header
        .metadata
        .get_or_insert_with(Map::new)
        .insert(WORKFLOW_STARTED_AT.into(), started);
    header
}

fn workflow_started_at(header: &EventHeader) -> Timestamp {
    header
        .metadata
        .as_ref()
        .and_then(|m| m.get(WORKFLOW_STARTED_AT))
        .and_then(Value::as_str)
        .and_then(|text| Timestamp::parse(text).ok())
        .unwrap_or(header.timestamp)
}

fn wrong_event(handler: &str, event: &Event) -> HandlerError {
    HandlerError::Permanent(format!(
        "the {handler} handler does not consume {} events (routing sends them elsewhere)",
        event.event_type()
    ))
}

/// Emits `WorkflowStarted` then `SignalGenerated` for a fixed target allocation.
pub struct StrategyHandler {
    allocation: SymbolMap<Decimal>,
    strategy_name: String,
}

impl StrategyHandler {
    /// A strategy that always targets `allocation` (symbol → weight).
    pub fn new(allocation: SymbolMap<Decimal>, strategy_name: impl Into<String>) -> Self {
        Self {
            allocation,
            strategy_name: strategy_name.into(),
        }
    }

    /// Reads a target-allocation file: either `{"SPY": "0.6", "TLT": "0.4"}` or
    /// `{"strategy": "name", "target_allocations": {...}}`. Errors name the field at fault.
    pub fn from_allocation_json(text: &str) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Named {
            #[serde(default = "default_strategy_name")]
            strategy: String,
            target_allocations: SymbolMap<Decimal>,
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let named = if value.get("target_allocations").is_some() {
            serde_json::from_value::<Named>(value)
        } else {
            serde_json::from_value::<SymbolMap<Decimal>>(value).map(|target_allocations| Named {
                strategy: default_strategy_name(),
                target_allocations,
            })
        }
        .map_err(|e| format!("not a target allocation (symbol → weight): {e}"))?;
        Ok(Self::new(named.target_allocations, named.strategy))
    }

    /// Starts one workflow run. The allocation is validated here, so a bad allocation file is
    /// reported before anything is published.
    pub fn start(&self, requested_by: &str) -> Result<Vec<Event>, HandlerError> {
        let mut started_header =
            EventHeader::start_workflow(EventType::WorkflowStarted, "strategy");
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
        let header = follow(&started.header, EventType::SignalGenerated, "strategy");
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

fn default_strategy_name() -> String {
    "static".into()
}

/// `SignalGenerated` → `RebalancePlanned`, from the broker's account.
pub struct PortfolioHandler {
    broker: Arc<dyn Broker>,
    config: PlannerConfig,
}

impl PortfolioHandler {
    /// A portfolio handler planning against `broker`'s account.
    pub fn new(broker: Arc<dyn Broker>, config: PlannerConfig) -> Self {
        Self { broker, config }
    }

    async fn snapshot(&self, signal: &SignalGenerated) -> Result<PortfolioSnapshot, BrokerError> {
        let cash = self.broker.account().await?.cash;
        let positions = self.broker.positions().await?;
        let mut prices = BTreeMap::new();
        for symbol in signal.consolidated_portfolio.target_allocations.keys() {
            if !positions.iter().any(|p| &p.symbol == symbol) {
                prices.insert(symbol.clone(), self.broker.latest_price(symbol).await?);
            }
        }
        Ok(PortfolioSnapshot {
            cash,
            positions,
            prices,
        })
    }

    /// Plans the rebalance for one signal.
    pub async fn plan(&self, signal: &SignalGenerated) -> Result<RebalancePlanned, HandlerError> {
        let snapshot = self.snapshot(signal).await?;
        let proposal = plan_rebalance(
            &signal.consolidated_portfolio.target_allocations,
            &snapshot,
            &self.config,
        )
        .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let header = follow(&signal.header, EventType::RebalancePlanned, "portfolio");
        let plan = RebalancePlan {
            schema_version: SCHEMA_VERSION.into(),
            correlation_id: header.correlation_id.clone(),
            causation_id: signal.header.event_id.clone(),
            timestamp: header.timestamp,
            plan_id: format!("plan-{}", uuid_suffix(&header.event_id)),
            strategy_id: None,
            items: proposal.items,
            total_portfolio_value: proposal.total_portfolio_value,
            total_trade_value: proposal.total_trade_value,
            max_drift_tolerance: self.config.max_drift_tolerance,
            execution_urgency: Default::default(),
            estimated_duration_minutes: None,
            metadata: None,
        };
        Ok(RebalancePlanned {
            header,
            rebalance_plan: plan,
            allocation_comparison: proposal.allocation_comparison,
            trades_required: proposal.trades_required,
        })
    }
}

/// The random part of a generated event id, reused so a plan's id names its event.
fn uuid_suffix(event_id: &str) -> &str {
    event_id
        .strip_prefix(EventType::RebalancePlanned.id_prefix())
        .map(|rest| rest.trim_start_matches('-'))
        .unwrap_or(event_id)
}

#[async_trait]
impl EventHandler for PortfolioHandler {
    fn name(&self) -> &str {
        "portfolio"
    }

    async fn handle(&self, event: &Event, _: &Delivery) -> Result<Vec<Event>, HandlerError> {
        match event {
            Event::SignalGenerated(signal) => Ok(vec![self.plan(signal).await?.into()]),
            other => Err(wrong_event("portfolio", other)),
        }
    }
}

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

/// How a workflow ended, as the monitor recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowOutcome {
    /// The workflow's correlation id.
    pub correlation_id: String,
    /// The event recorded.
    pub event_type: EventType,
    /// Whether it went well.
    pub success: bool,
    /// A one-line account.
    pub detail: String,
}

/// Records outcomes (`TradeExecuted`, `WorkflowCompleted`, `WorkflowFailed`) and logs them.
#[derive(Default)]
pub struct MonitorHandler {
    outcomes: Mutex<Vec<WorkflowOutcome>>,
}

impl MonitorHandler {
    /// A monitor with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// What has been recorded so far.
    pub fn outcomes(&self) -> Vec<WorkflowOutcome> {
        self.outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records one event and returns what was recorded.
    pub fn record(&self, event: &Event) -> Result<WorkflowOutcome, HandlerError> {
        let (success, detail) = match event {
            Event::TradeExecuted(e) => (
                e.success,
                format!(
                    "{}/{} orders succeeded{}",
                    e.orders_succeeded,
                    e.orders_placed,
                    e.failure_reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            ),
            Event::WorkflowCompleted(e) => {
                (true, format!("completed in {} ms", e.workflow_duration_ms))
            }
            Event::WorkflowFailed(e) => (
                false,
                format!("failed at {}: {}", e.failure_step, e.failure_reason),
            ),
            other => return Err(wrong_event("monitor", other)),
        };
        let outcome = WorkflowOutcome {
            correlation_id: event.header().correlation_id.clone(),
            event_type: event.event_type(),
            success,
            detail,
        };
        if success {
            tracing::info!(correlation_id = %outcome.correlation_id, event_type = %outcome.event_type, detail = %outcome.detail, "workflow outcome");
        } else {
            tracing::warn!(correlation_id = %outcome.correlation_id, event_type = %outcome.event_type, detail = %outcome.detail, "workflow outcome");
        }
        self.outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(outcome.clone());
        Ok(outcome)
    }
}

#[async_trait]
impl EventHandler for MonitorHandler {
    fn name(&self) -> &str {
        "monitor"
    }

    async fn handle(&self, event: &Event, _: &Delivery) -> Result<Vec<Event>, HandlerError> {
        self.record(event).map(|_| Vec::new())
    }
}

/// The consuming handlers of one workflow, sharing one broker: what `alchemiser run`, the
/// Lambda functions and the tests wire onto a bus.
pub struct Workflow {
    /// `SignalGenerated` → `RebalancePlanned`.
    pub portfolio: Arc<PortfolioHandler>,
    /// `RebalancePlanned` → outcome events.
    pub execution: Arc<ExecutionHandler>,
    /// Records outcomes.
    pub monitor: Arc<MonitorHandler>,
}

impl Workflow {
    /// Handlers over `broker`.
    pub fn new(
        broker: Arc<dyn Broker>,
        planner: PlannerConfig,
        allow_replay_execution: bool,
    ) -> Self {
        Self {
            portfolio: Arc::new(PortfolioHandler::new(broker.clone(), planner)),
            execution: Arc::new(ExecutionHandler::new(broker, allow_replay_execution)),
            monitor: Arc::new(MonitorHandler::new()),
        }
    }

    /// The handler that runs as `name`'s function; `None` for the strategy, which starts
    /// workflows rather than consuming events.
    pub fn handler(&self, name: HandlerName) -> Option<Arc<dyn EventHandler>> {
        match name {
            HandlerName::Strategy => None,
            HandlerName::Portfolio => Some(self.portfolio.clone()),
            HandlerName::Execution => Some(self.execution.clone()),
            HandlerName::Monitor => Some(self.monitor.clone()),
        }
    }

    /// Subscribes each handler to the event types the routing table sends it.
    pub fn subscribe_all(&self, bus: &dyn EventBus) {
        for route in ROUTES {
            if let Some(handler) = route.consumer.and_then(|name| self.handler(name)) {
                bus.subscribe(route.event_type, handler);
            }
        }
    }
}
