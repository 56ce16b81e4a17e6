//! The rebalance planner: the Python system's rules, in exact decimal arithmetic.

use std::collections::{BTreeMap, BTreeSet};

use alchemiser_events::{AllocationComparison, Decimal, PlanItem, Symbol, SymbolMap, TradeAction};
use rust_decimal::RoundingStrategy;
use thiserror::Error;

use crate::broker::Position;

/// What the planner knows of the account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortfolioSnapshot {
    /// Cash held.
    pub cash: Decimal,
    /// Positions held, with their prices.
    pub positions: Vec<Position>,
    /// Prices of symbols that are targeted but not held.
    pub prices: BTreeMap<Symbol, Decimal>,
}

impl PortfolioSnapshot {
    /// Cash plus Σ quantity × price.
    pub fn total_value(&self) -> Decimal {
        self.cash
            + self
                .positions
                .iter()
                .map(|p| p.qty * p.price)
                .sum::<Decimal>()
    }
}

/// The planner's knobs, with the Python system's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannerConfig {
    /// Fraction of the portfolio kept in cash (default 0.01).
    pub cash_reserve: Decimal,
    /// Trades smaller than this fraction of the portfolio value become HOLD (default 0.01).
    pub min_trade_fraction: Decimal,
    /// Drift tolerance written on the plan (default 0.05).
    pub max_drift_tolerance: Decimal,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self {
            cash_reserve: Decimal::new(1, 2),
            min_trade_fraction: Decimal::new(1, 2),
            max_drift_tolerance: Decimal::new(5, 2),
        }
    }
}

/// Why no plan could be made. All are permanent: the same input fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// Nothing to rebalance.
    #[error("the portfolio is worth {0}: there is nothing to rebalance (deposit cash or check the account)")]
    EmptyPortfolio(Decimal),
    /// A targeted symbol has no price.
    #[error("no price for `{0}`: the broker has no quote for a targeted symbol (add it to the paper portfolio's `prices`, or check the symbol)")]
    MissingPrice(Symbol),
    /// A price that cannot be traded at.
    #[error("price of `{symbol}` is {price}: prices must be positive")]
    InvalidPrice {
        /// The symbol.
        symbol: Symbol,
        /// The bad price.
        price: Decimal,
    },
    /// A negative holding.
    #[error("position `{symbol}` has quantity {qty}: short positions are not supported")]
    NegativeQuantity {
        /// The symbol.
        symbol: Symbol,
        /// The bad quantity.
        qty: Decimal,
    },
    /// A knob outside [0, 1).
    #[error("planner setting `{name}` is {value}: it must be at least 0 and below 1")]
    InvalidConfig {
        /// The setting.
        name: &'static str,
        /// Its value.
        value: Decimal,
    },
}

/// The planned trades and the figures around them, ready to become a `RebalancePlan`.
#[derive(Debug, Clone, PartialEq)]
pub struct RebalanceProposal {
    /// Sorted SELL, BUY, HOLD, each by priority.
    pub items: Vec<PlanItem>,
    /// Cash plus positions, in cents.
    pub total_portfolio_value: Decimal,
    /// Σ |trade_amount| of BUY and SELL items.
    pub total_trade_value: Decimal,
    /// Dollar values per symbol.
    pub allocation_comparison: AllocationComparison,
    /// Whether any item is a BUY or a SELL.
    pub trades_required: bool,
}

/// Plans the trades that move `snapshot` to `target` (symbol → weight).
pub fn plan_rebalance(
    target: &SymbolMap<Decimal>,
    snapshot: &PortfolioSnapshot,
    config: &PlannerConfig,
) -> Result<RebalanceProposal, PlanError> {
    check_config("cash_reserve", config.cash_reserve)?;
    check_config("min_trade_fraction", config.min_trade_fraction)?;
    for position in &snapshot.positions {
        if position.qty < Decimal::ZERO {
            return Err(PlanError::NegativeQuantity {
                symbol: position.symbol.clone(),
                qty: position.qty,
            });
        }
    }
    let portfolio_value = money(snapshot.total_value());
    if portfolio_value <= Decimal::ZERO {
        return Err(PlanError::EmptyPortfolio(portfolio_value));
    }
    let effective_value = portfolio_value * (Decimal::ONE - config.cash_reserve);
    let min_trade = portfolio_value * config.min_trade_fraction;

    let held: BTreeMap<&Symbol, &Position> =
        snapshot.positions.iter().map(|p| (&p.symbol, p)).collect();
    let symbols: BTreeSet<&Symbol> = target
        .keys()
        .chain(
            snapshot
                .positions
                .iter()
                .filter(|p| !p.qty.is_zero())
                .map(|p| &p.symbol),
        )
        .collect();

    let mut items = Vec::with_capacity(symbols.len());
    let mut comparison = AllocationComparison::default();
    for symbol in symbols {
        let raw_target_weight = target.get(symbol).copied().unwrap_or_default();
        let target_weight = weight(raw_target_weight);
        let current_value = match held.get(symbol) {
            Some(position) => {
                check_price(symbol, position.price)?;
                money(position.qty * position.price)
            }
            None => {
                // A symbol we buy into needs a price to size the order later; fail now, not then.
                let price = snapshot
                    .prices
                    .get(symbol)
                    .ok_or_else(|| PlanError::MissingPrice(symbol.clone()))?;
                check_price(symbol, *price)?;
                money(Decimal::ZERO)
            }
        };
        // Values come from the exact weight; the 4-place weight is for display.
        let target_value = money(raw_target_weight * effective_value);
        let trade_amount = target_value - current_value;
        let current_weight = weight(current_value / portfolio_value);
        let action = if trade_amount.abs() < min_trade {
            TradeAction::Hold
        } else if trade_amount > Decimal::ZERO {
            TradeAction::Buy
        } else {
            TradeAction::Sell
        };
        comparison
            .target_values
            .insert(symbol.clone(), target_value);
        comparison
            .current_values
            .insert(symbol.clone(), current_value);
        comparison.deltas.insert(symbol.clone(), trade_amount);
        items.push(PlanItem {
            symbol: symbol.clone(),
            current_weight,
            target_weight,
            weight_diff: target_weight - current_weight,
            target_value,
            current_value,
            trade_amount,
            action,
            priority: priority(trade_amount),
        });
    }
    items.sort_by(|a, b| (a.action, a.priority, &a.symbol).cmp(&(b.action, b.priority, &b.symbol)));
    let trading = items.iter().filter(|i| i.action != TradeAction::Hold);
    let total_trade_value = money(trading.clone().map(|i| i.trade_amount.abs()).sum());
    let trades_required = trading.count() > 0;
    Ok(RebalanceProposal {
        items,
        total_portfolio_value: portfolio_value,
        total_trade_value,
        allocation_comparison: comparison,
        trades_required,
    })
}

/// Priority by the size of the trade: 1 for ≥ 10,000 down to 5 below 50.
pub(crate) fn priority(trade_amount: Decimal) -> u8 {
    let size = trade_amount.abs();
    match size {
        s if s >= Decimal::from(10_000) => 1,
        s if s >= Decimal::from(1_000) => 2,
        s if s >= Decimal::from(100) => 3,
        s if s >= Decimal::from(50) => 4,
        _ => 5,
    }
}

/// Rounds half-up to cents and always shows two places (`5940.00`).
pub(crate) fn money(amount: Decimal) -> Decimal {
    fixed(amount, 2)
}

/// Rounds half-up to four places and always shows four (`0.3000`).
pub(crate) fn weight(value: Decimal) -> Decimal {
    fixed(value, 4)
}

fn fixed(value: Decimal, places: u32) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(places);
    rounded
}

fn check_price(symbol: &Symbol, price: Decimal) -> Result<(), PlanError> {
    if price <= Decimal::ZERO {
        return Err(PlanError::InvalidPrice {
            symbol: symbol.clone(),
            price,
        });
    }
    Ok(())
}

fn check_config(name: &'static str, value: Decimal) -> Result<(), PlanError> {
    if value < Decimal::ZERO || value >= Decimal::ONE {
        return Err(PlanError::InvalidConfig { name, value });
    }
    Ok(())
}
