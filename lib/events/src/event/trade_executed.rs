//! `TradeExecuted`: its payload, its rules and its sample.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{EventHeader, EventType, WorkflowStep};
use crate::error::ContractError;
use crate::routing::{Route, EXECUTION, PY_EXECUTION};
use crate::samples::SampleIds;
use crate::validate::Checked;
use crate::HandlerName;

/// `TradeExecuted`: the outcome of placing a plan's orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TradeExecuted {
    /// Common fields.
    #[serde(flatten)]
    pub header: EventHeader,
    /// Per-order details and run facts, free-form.
    pub execution_data: Map<String, Value>,
    /// True when every order placed succeeded.
    pub success: bool,
    /// Orders sent to the broker.
    pub orders_placed: u32,
    /// Orders the broker filled or accepted.
    pub orders_succeeded: u32,
    /// Why it did not fully succeed.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// Symbols whose orders failed.
    #[serde(default)]
    pub failed_symbols: Vec<String>,
}

impl TradeExecuted {
    /// Who may publish it and which handlers it is delivered to: its row of the routing table.
    pub const ROUTE: Route = Route {
        event_type: EventType::TradeExecuted,
        producers: &[EXECUTION, PY_EXECUTION],
        consumers: &[HandlerName::Monitor],
    };

    /// The step of the workflow it marks.
    pub const STEP: WorkflowStep = WorkflowStep::Executing;

    pub(crate) fn validate(&self) -> Checked {
        self.header.validate()?;
        if self.orders_succeeded > self.orders_placed {
            return Err(ContractError::rule(
                "orders_succeeded",
                format!(
                    "({}) cannot exceed orders_placed ({})",
                    self.orders_succeeded, self.orders_placed
                ),
            ));
        }
        Ok(())
    }

    /// The payload fields of a valid sample (`alchemiser publish --example`, the tests).
    pub(crate) fn sample_payload(_ids: &SampleIds<'_>) -> Value {
        json!({
            "execution_data": {"orders": [
                {"symbol": "TLT", "side": "sell", "notional": "3040.00", "status": "filled"},
                {"symbol": "SPY", "side": "buy", "notional": "2940.00", "status": "filled"}
            ]},
            "success": true,
            "orders_placed": 2,
            "orders_succeeded": 2,
            "failure_reason": null,
            "failed_symbols": [],
        })
    }
}
