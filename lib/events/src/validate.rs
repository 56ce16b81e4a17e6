//! The contract's rules beyond shape: each broken rule is reported with the field's path.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use crate::error::ContractError;
use crate::event::{
    ConsolidatedPortfolio, EventHeader, PlanItem, RebalancePlanned, SignalGenerated, TradeAction,
    TradeExecuted, WorkflowCompleted, WorkflowFailed, WorkflowStarted,
};

/// Target allocations must sum to 1 within this tolerance.
pub const ALLOCATION_SUM_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Largest plausible dollar amount; anything above is an upstream bug, not a trade.
const MAX_MONEY: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0); // 1e15

type Checked = Result<(), ContractError>;

impl EventHeader {
    /// Ids present, producer named, schema version 1.x.
    pub fn validate(&self) -> Checked {
        id("event_id", &self.event_id)?;
        id("correlation_id", &self.correlation_id)?;
        id("causation_id", &self.causation_id)?;
        non_empty("source_module", &self.source_module)?;
        self.validate_provenance()?;
        if self.schema_version.split('.').next() != Some("1") {
            return Err(ContractError::rule(
                "schema_version",
                format!(
                    "is `{}` but this consumer reads version 1.x only",
                    self.schema_version
                ),
            ));
        }
        Ok(())
    }
}

impl WorkflowStarted {
    pub(crate) fn validate(&self) -> Checked {
        self.header.validate()?;
        non_empty("workflow_type", &self.workflow_type)?;
        non_empty("requested_by", &self.requested_by)
    }
}

impl SignalGenerated {
    pub(crate) fn validate(&self) -> Checked {
        self.header.validate()?;
        self.consolidated_portfolio
            .validate("consolidated_portfolio")
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

impl RebalancePlanned {
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

impl TradeExecuted {
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
}

impl WorkflowCompleted {
    pub(crate) fn validate(&self) -> Checked {
        self.header.validate()?;
        non_empty("workflow_type", &self.workflow_type)
    }
}

impl WorkflowFailed {
    pub(crate) fn validate(&self) -> Checked {
        self.header.validate()?;
        non_empty("workflow_type", &self.workflow_type)?;
        // `failure_reason` may be empty: the Python stages write `str(e)`, which is `""` for an
        // exception raised without a message, and refusing the event would drop the news that
        // the workflow failed. The ledger shows it as "(no reason given)".
        non_empty("failure_step", &self.failure_step)
    }
}

/// An id: not empty, and printable text — no control character (an escape sequence, a line
/// break) and no character that reorders text around it, which would reach every terminal and
/// log line that shows the id. The error names the character, never shows it.
fn id(field: &str, value: &str) -> Checked {
    non_empty(field, value)?;
    if let Some((position, bad)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| crate::text::is_hidden_control(*c))
    {
        return Err(ContractError::rule(
            field,
            format!(
                "contains the control character U+{:04X} at character {}: ids are printable text",
                u32::from(bad),
                position + 1
            ),
        ));
    }
    Ok(())
}

fn non_empty(field: &str, value: &str) -> Checked {
    if value.trim().is_empty() {
        return Err(ContractError::rule(field, "must not be empty"));
    }
    Ok(())
}

fn weight_in_unit_range(field: &str, weight: Decimal) -> Checked {
    if weight < Decimal::ZERO || weight > Decimal::ONE {
        return Err(ContractError::rule(
            field,
            format!("must be a weight between 0 and 1 (found {weight})"),
        ));
    }
    Ok(())
}

fn money(field: &str, amount: Decimal, signed: bool) -> Checked {
    if !signed && amount < Decimal::ZERO {
        return Err(ContractError::rule(
            field,
            format!("must not be negative (found {amount})"),
        ));
    }
    if amount.abs() > MAX_MONEY {
        return Err(ContractError::rule(
            field,
            format!("is implausibly large ({amount}); amounts above 1e15 are rejected"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_hold_the_values_their_names_promise() {
        assert_eq!(ALLOCATION_SUM_TOLERANCE.to_string(), "0.01");
        assert_eq!(MAX_MONEY, Decimal::from(1_000_000_000_000_000_i64));
    }
}
