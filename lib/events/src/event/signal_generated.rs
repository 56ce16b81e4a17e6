//! `SignalGenerated` and its consolidated portfolio: the payload, its rules and its sample.

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{schema_version, EventHeader, EventType, WorkflowStep};
use crate::error::ContractError;
use crate::primitives::{SymbolMap, Timestamp};
use crate::routing::{Route, PY_STRATEGY, STRATEGY};
use crate::samples::SampleIds;
use crate::validate::{id, weight_in_unit_range, Checked, ALLOCATION_SUM_TOLERANCE};
use crate::HandlerName;

/// `SignalGenerated`: strategies produced a consolidated target portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignalGenerated {
    /// Common fields.
    #[serde(flatten)]
    pub header: EventHeader,
    /// Per-strategy signal details, free-form.
    pub signals_data: Map<String, Value>,
    /// The target allocation all strategies agreed on.
    pub consolidated_portfolio: ConsolidatedPortfolio,
    /// Number of signals behind it.
    pub signal_count: u32,
}

/// The consolidated target allocation of a `SignalGenerated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConsolidatedPortfolio {
    /// Symbol → target weight in [0, 1]; the weights sum to 1 ± 0.01.
    pub target_allocations: SymbolMap<Decimal>,
    /// The workflow's correlation id.
    pub correlation_id: String,
    /// When the allocation was computed.
    pub timestamp: Timestamp,
    /// Number of strategies consolidated.
    pub strategy_count: u32,
    /// Names of the strategies consolidated.
    #[serde(default)]
    pub source_strategies: Vec<String>,
    /// Version of this nested model (the Python system writes `1.0.0`).
    #[serde(default = "schema_version")]
    pub schema_version: String,
    /// Optional constraints, free-form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Map<String, Value>>,
}

impl SignalGenerated {
    /// Who may publish it and which handlers it is delivered to: its row of the routing table.
    pub const ROUTE: Route = Route {
        event_type: EventType::SignalGenerated,
        producers: &[STRATEGY, PY_STRATEGY],
        consumers: &[HandlerName::Portfolio, HandlerName::Monitor],
    };

    /// The step of the workflow it marks.
    pub const STEP: WorkflowStep = WorkflowStep::Signalled;

    pub(crate) fn validate(&self) -> Checked {
        self.header.validate()?;
        self.consolidated_portfolio
            .validate("consolidated_portfolio")
    }

    /// The payload fields of a valid sample (`alchemiser publish --example`, the tests).
    pub(crate) fn sample_payload(ids: &SampleIds<'_>) -> Value {
        json!({
            "signals_data": {"klm": {"symbol": "SPY", "action": "BUY", "reasoning": "trend up"}},
            "consolidated_portfolio": {
                "target_allocations": {"SPY": "0.6", "TLT": "0.4"},
                "correlation_id": ids.correlation_id,
                "timestamp": ids.now,
                "strategy_count": 1,
                "source_strategies": ["klm"],
                "schema_version": "1.0.0",
                "constraints": null,
            },
            "signal_count": 1,
        })
    }
}

impl ConsolidatedPortfolio {
    fn validate(&self, path: &str) -> Checked {
        // Not compared with the event's: the Python strategy writes its own label here
        // (`signal_handler_<time>`), and the event's correlation id is the workflow's.
        id(&format!("{path}.correlation_id"), &self.correlation_id)?;
        let allocations = format!("{path}.target_allocations");
        if self.target_allocations.is_empty() {
            return Err(ContractError::rule(
                allocations,
                "is empty: a target portfolio needs at least one symbol",
            ));
        }
        for (symbol, weight) in self.target_allocations.iter() {
            weight_in_unit_range(&format!("{allocations}.{symbol}"), *weight)?;
        }
        let total: Decimal = self.target_allocations.values().sum();
        if (total - Decimal::ONE).abs() > ALLOCATION_SUM_TOLERANCE {
            return Err(ContractError::rule(
                allocations,
                format!("must sum to 1 ± {ALLOCATION_SUM_TOLERANCE} (they sum to {total})"),
            ));
        }
        Ok(())
    }
}
