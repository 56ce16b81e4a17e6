//! `RebalancePlanned` and its plan: the payload, its rules and its sample.

use std::collections::BTreeSet;
use std::fmt;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{schema_version, EventHeader, EventType, WorkflowStep};
use crate::error::ContractError;
use crate::primitives::{Symbol, SymbolMap, Timestamp};
use crate::routing::{Route, PORTFOLIO, PY_PORTFOLIO};
use crate::samples::SampleIds;
use crate::validate::{id, money, weight_in_unit_range, Checked};
use crate::HandlerName;

/// `RebalancePlanned`: the trades that move the portfolio to its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RebalancePlanned {
    /// Common fields.
    #[serde(flatten)]
    pub header: EventHeader,
    /// The plan.
    pub rebalance_plan: RebalancePlan,
    /// Dollar values before, after and the difference, per symbol.
    pub allocation_comparison: AllocationComparison,
    /// True when any item is a BUY or a SELL.
    pub trades_required: bool,
}

/// How urgently a plan should be executed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ExecutionUrgency {
    /// Whenever convenient.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Soon.
    High,
    /// Now.
    Urgent,
}

/// A rebalance plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RebalancePlan {
    /// Version of this nested model.
    #[serde(default = "schema_version")]
    pub schema_version: String,
    /// The workflow's correlation id.
    pub correlation_id: String,
    /// The event that caused the plan.
    pub causation_id: String,
    /// When the plan was made.
    pub timestamp: Timestamp,
    /// Unique id of the plan.
    pub plan_id: String,
    /// The strategy the plan serves, if one.
    #[serde(default)]
    pub strategy_id: Option<String>,
    /// One item per symbol, SELLs first, then BUYs, then HOLDs.
    pub items: Vec<PlanItem>,
    /// Cash plus positions at current prices.
    pub total_portfolio_value: Decimal,
    /// Σ |trade_amount| of the BUY and SELL items.
    pub total_trade_value: Decimal,
    /// Drift tolerated before trading.
    #[serde(default = "default_drift_tolerance")]
    pub max_drift_tolerance: Decimal,
    /// How urgently to execute.
    #[serde(default)]
    pub execution_urgency: ExecutionUrgency,
    /// Expected duration, if estimated.
    #[serde(default)]
    pub estimated_duration_minutes: Option<u32>,
    /// Free-form metadata. Absent stays absent when written (never `null`: the Python models
    /// refuse a null `metadata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

fn default_drift_tolerance() -> Decimal {
    Decimal::new(5, 2)
}

/// What a plan item asks for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum TradeAction {
    /// Reduce a position. Sorted first: sells raise the cash buys need.
    Sell,
    /// Increase a position.
    Buy,
    /// Leave it: the difference is below the minimum trade.
    Hold,
}

impl TradeAction {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TradeAction::Sell => "SELL",
            TradeAction::Buy => "BUY",
            TradeAction::Hold => "HOLD",
        }
    }
}

impl fmt::Display for TradeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One symbol's line in a rebalance plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanItem {
    /// The symbol.
    pub symbol: Symbol,
    /// Current value / portfolio value, in [0, 1].
    pub current_weight: Decimal,
    /// Target weight, in [0, 1].
    pub target_weight: Decimal,
    /// target_weight − current_weight.
    pub weight_diff: Decimal,
    /// Target value in dollars.
    pub target_value: Decimal,
    /// Current value in dollars.
    pub current_value: Decimal,
    /// target_value − current_value: positive buys, negative sells.
    pub trade_amount: Decimal,
    /// BUY, SELL or HOLD.
    pub action: TradeAction,
    /// 1 (largest trade) to 5 (smallest).
    pub priority: u8,
}

/// Dollar values per symbol: target, current and target − current.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AllocationComparison {
    /// Target value in dollars.
    pub target_values: SymbolMap<Decimal>,
    /// Current value in dollars.
    pub current_values: SymbolMap<Decimal>,
    /// target − current, in dollars.
    pub deltas: SymbolMap<Decimal>,
}

impl RebalancePlanned {
    /// Who may publish it and which handlers it is delivered to: its row of the routing table.
    pub const ROUTE: Route = Route {
        event_type: EventType::RebalancePlanned,
        producers: &[PORTFOLIO, PY_PORTFOLIO],
        consumers: &[HandlerName::Execution, HandlerName::Monitor],
    };

    /// The step of the workflow it marks.
    pub const STEP: WorkflowStep = WorkflowStep::Planned;

    pub(crate) fn validate(&self) -> Checked {
        self.header.validate()?;
        let plan = &self.rebalance_plan;
        // A differing nested id is kept and reported (see `nested_correlation_id`), never fatal:
        // the event's own correlation id is the workflow's.
        id("rebalance_plan.correlation_id", &plan.correlation_id)?;
        id("rebalance_plan.causation_id", &plan.causation_id)?;
        id("rebalance_plan.plan_id", &plan.plan_id)?;
        if plan.items.is_empty() {
            return Err(ContractError::rule(
                "rebalance_plan.items",
                "is empty: a plan has at least one item",
            ));
        }
        let mut seen = BTreeSet::new();
        for (index, item) in plan.items.iter().enumerate() {
            let path = format!("rebalance_plan.items[{index}]");
            if !seen.insert(&item.symbol) {
                return Err(ContractError::rule(
                    format!("{path}.symbol"),
                    format!("`{}` appears in more than one item", item.symbol),
                ));
            }
            item.validate(&path)?;
        }
        money(
            "rebalance_plan.total_portfolio_value",
            plan.total_portfolio_value,
            false,
        )?;
        money(
            "rebalance_plan.total_trade_value",
            plan.total_trade_value,
            false,
        )?;
        weight_in_unit_range(
            "rebalance_plan.max_drift_tolerance",
            plan.max_drift_tolerance,
        )?;
        let trades = plan
            .items
            .iter()
            .any(|item| item.action != TradeAction::Hold);
        if trades != self.trades_required {
            return Err(ContractError::rule(
                "trades_required",
                format!(
                    "is {} but the plan {} BUY or SELL items",
                    self.trades_required,
                    if trades { "has" } else { "has no" }
                ),
            ));
        }
        for (name, values) in [
            ("target_values", &self.allocation_comparison.target_values),
            ("current_values", &self.allocation_comparison.current_values),
        ] {
            for (symbol, value) in values.iter() {
                money(
                    &format!("allocation_comparison.{name}.{symbol}"),
                    *value,
                    false,
                )?;
            }
        }
        for (symbol, delta) in self.allocation_comparison.deltas.iter() {
            money(
                &format!("allocation_comparison.deltas.{symbol}"),
                *delta,
                true,
            )?;
        }
        Ok(())
    }

    /// The payload fields of a valid sample (`alchemiser publish --example`, the tests).
    pub(crate) fn sample_payload(ids: &SampleIds<'_>) -> Value {
        json!({
            "rebalance_plan": {
                "schema_version": "1.0",
                "correlation_id": ids.correlation_id,
                "causation_id": ids.causation_id,
                "timestamp": ids.now,
                "plan_id": format!("plan-{}", uuid::Uuid::new_v4()),
                "strategy_id": null,
                "items": [
                    {"symbol": "TLT", "current_weight": "0.7000", "target_weight": "0.4000",
                     "weight_diff": "-0.3000", "target_value": "3960.00", "current_value": "7000.00",
                     "trade_amount": "-3040.00", "action": "SELL", "priority": 2},
                    {"symbol": "SPY", "current_weight": "0.3000", "target_weight": "0.6000",
                     "weight_diff": "0.3000", "target_value": "5940.00", "current_value": "3000.00",
                     "trade_amount": "2940.00", "action": "BUY", "priority": 2}
                ],
                "total_portfolio_value": "10000.00",
                "total_trade_value": "5980.00",
                "max_drift_tolerance": "0.05",
                "execution_urgency": "NORMAL",
                "estimated_duration_minutes": null,
                "metadata": null,
            },
            "allocation_comparison": {
                "target_values": {"SPY": "5940.00", "TLT": "3960.00"},
                "current_values": {"SPY": "3000.00", "TLT": "7000.00"},
                "deltas": {"SPY": "2940.00", "TLT": "-3040.00"},
            },
            "trades_required": true,
        })
    }
}

impl PlanItem {
    fn validate(&self, path: &str) -> Checked {
        weight_in_unit_range(&format!("{path}.current_weight"), self.current_weight)?;
        weight_in_unit_range(&format!("{path}.target_weight"), self.target_weight)?;
        if self.weight_diff.abs() > Decimal::ONE {
            return Err(ContractError::rule(
                format!("{path}.weight_diff"),
                format!("must be between -1 and 1 (found {})", self.weight_diff),
            ));
        }
        money(&format!("{path}.target_value"), self.target_value, false)?;
        money(&format!("{path}.current_value"), self.current_value, false)?;
        money(&format!("{path}.trade_amount"), self.trade_amount, true)?;
        if !(1..=5).contains(&self.priority) {
            return Err(ContractError::rule(
                format!("{path}.priority"),
                format!("must be between 1 and 5 (found {})", self.priority),
            ));
        }
        let sign_ok = match self.action {
            TradeAction::Buy => self.trade_amount > Decimal::ZERO,
            TradeAction::Sell => self.trade_amount < Decimal::ZERO,
            TradeAction::Hold => true,
        };
        if !sign_ok {
            return Err(ContractError::rule(
                format!("{path}.trade_amount"),
                format!(
                    "is {} but the action is {}: a BUY needs a positive amount, a SELL a negative one",
                    self.trade_amount, self.action
                ),
            ));
        }
        Ok(())
    }
}
