//! The three trading handlers over the bus and broker ports, one file each (mirroring
//! `functions/src/bin/<handler>.rs`), and what they share: how a caused event's header is made.
//! The fourth function, the monitor, keeps the workflow ledger (`alchemiser-ledger`).

mod execution;
mod portfolio;
mod strategy;

use std::sync::Arc;

use alchemiser_bus::{EventHandler, HandlerError, InMemoryBus};
use alchemiser_clock::Clock;
use alchemiser_events::{Event, EventHeader, EventType, HandlerName, Timestamp, ROUTES};
use serde_json::{json, Map, Value};

pub use execution::{ExecutionHandler, DRY_RUN_SCOPE};
pub use portfolio::PortfolioHandler;
pub use strategy::{AllocationError, StrategyHandler};

use crate::broker::{Broker, BrokerError};
use crate::orders::ExecutionSettings;
use crate::planner::PlannerConfig;

/// The `workflow_type` of every event this crate emits.
pub const WORKFLOW_TYPE: &str = "trading";

/// Metadata key carrying the workflow's start time from event to event, so that the last step
/// can report the whole workflow's duration without a shared store.
pub(crate) const WORKFLOW_STARTED_AT: &str = "workflow_started_at";

impl From<BrokerError> for HandlerError {
    fn from(error: BrokerError) -> Self {
        match error {
            BrokerError::Permanent(reason) => HandlerError::Permanent(reason),
            retryable => HandlerError::Transient(retryable.to_string()),
        }
    }
}

/// A header for an event caused by `cause` at `at`, carrying the workflow's start time (and the
/// cause's provenance) along.
pub(crate) fn follow(
    cause: &EventHeader,
    event_type: EventType,
    module: &str,
    at: Timestamp,
) -> EventHeader {
    let mut header = EventHeader::caused_by(cause, event_type, module, at);
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

pub(crate) fn workflow_started_at(header: &EventHeader) -> Timestamp {
    header
        .metadata
        .as_ref()
        .and_then(|m| m.get(WORKFLOW_STARTED_AT))
        .and_then(Value::as_str)
        .and_then(|text| Timestamp::parse(text).ok())
        .unwrap_or(header.timestamp)
}

/// The WorkflowFailed a handler publishes when it refuses `cause` for good: the workflow ends
/// visibly at `step`, naming the dead letter that keeps the event.
pub(crate) fn failed_workflow(
    cause: &EventHeader,
    step: &str,
    reason: &str,
    dead_letter: &str,
    at: Timestamp,
) -> Event {
    Event::from(alchemiser_events::WorkflowFailed {
        header: follow(cause, EventType::WorkflowFailed, step, at),
        workflow_type: WORKFLOW_TYPE.into(),
        failure_reason: reason.to_owned(),
        failure_step: step.to_owned(),
        error_details: json!({
            "failed_event_id": cause.event_id,
            "dead_letter_message_id": dead_letter,
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    })
}

pub(crate) fn wrong_event(handler: &str, event: &Event) -> HandlerError {
    HandlerError::Permanent(format!(
        "the {handler} handler does not consume {} events (routing sends them elsewhere)",
        event.event_type()
    ))
}

/// The consuming handlers of one workflow, sharing one broker: what `alchemiser run`, the
/// CLI's `invoke` and the tests wire onto a bus.
pub struct Workflow {
    /// `SignalGenerated` → `RebalancePlanned`.
    pub portfolio: Arc<PortfolioHandler>,
    /// `RebalancePlanned` → outcome events.
    pub execution: Arc<ExecutionHandler>,
    /// Receives every event (the ledger's monitor, in practice).
    pub monitor: Arc<dyn EventHandler>,
}

impl Workflow {
    /// Handlers over `broker`, each timed by the clock `clock_of` gives for its name (one clock
    /// for all in the CLI; the simulation's machines are skewed apart), every event also going
    /// to `monitor`.
    pub fn new(
        broker: Arc<dyn Broker>,
        planner: PlannerConfig,
        execution: ExecutionSettings,
        clock_of: impl Fn(HandlerName) -> Arc<dyn Clock>,
        monitor: Arc<dyn EventHandler>,
    ) -> Self {
        Self {
            portfolio: Arc::new(
                PortfolioHandler::new(broker.clone(), planner)
                    .with_clock(clock_of(HandlerName::Portfolio)),
            ),
            execution: Arc::new(
                ExecutionHandler::new(broker, execution)
                    .with_clock(clock_of(HandlerName::Execution)),
            ),
            monitor,
        }
    }

    /// Execution reads the stage's kill switch from `halt`.
    pub fn with_halt(mut self, halt: Arc<dyn crate::halt::TradingHalt>) -> Self {
        self.execution = Arc::new(Arc::unwrap_or_clone(self.execution).with_halt(halt));
        self
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
    pub fn subscribe_all(&self, bus: &InMemoryBus) {
        for route in ROUTES {
            for handler in route
                .consumers
                .iter()
                .filter_map(|&name| self.handler(name))
            {
                bus.subscribe(route.event_type, handler);
            }
        }
    }
}
