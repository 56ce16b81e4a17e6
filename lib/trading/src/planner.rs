//! The rebalance planner: the Python system's rules (portfolio_v2's `RebalancePlanCalculator`,
//! as it produced the events the Python system sends), in exact, checked decimal arithmetic.
//!
//! 1. Effective value E = portfolio value × (1 − cash reserve); every target value is the raw
//!    target weight × E (never the rounded weight).
//! 2. Items in symbol order, each trade = raw target − raw current; weights are relative to the
//!    larger of Σ current and Σ target values; priority from the raw trade's size.
//! 3. Each field rounded on its own, half away from zero: money to cents, weights to 4 places.
//! 4. Sorted SELL, BUY, HOLD and by priority (stable: ties stay in symbol order); then a trade
//!    below the minimum (1% of the portfolio value, in cents) becomes a HOLD of `0.00` where it
//!    stands.

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
    /// The account's value as the broker states it, when it does (the Python planner plans
    /// from it); otherwise cash plus positions.
    pub portfolio_value: Option<Decimal>,
}

impl PortfolioSnapshot {
    /// Cash plus Σ quantity × price; `None` when that overflows exact arithmetic.
    pub fn total_value(&self) -> Option<Decimal> {
        self.positions.iter().try_fold(self.cash, |sum, position| {
            sum.checked_add(position.qty.checked_mul(position.price)?)
        })
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
    /// Values so large that exact decimal arithmetic overflows: a broken account feed.
    #[error("{0} overflows exact decimal arithmetic: the account's values are implausible; check the broker's positions and prices")]
    Overflow(String),
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
        check_price(&position.symbol, position.price)?;
    }
    let portfolio_value = match snapshot.portfolio_value {
        Some(stated) => stated,
        None => snapshot
            .total_value()
            .ok_or_else(|| PlanError::Overflow("the portfolio's total value".into()))?,
    };
    if portfolio_value <= Decimal::ZERO {
        return Err(PlanError::EmptyPortfolio(money(portfolio_value)));
    }
    let effective_value = mul(
        portfolio_value,
        Decimal::ONE - config.cash_reserve,
        "the effective portfolio value",
    )?;
    let min_trade = money(mul(
        portfolio_value,
        config.min_trade_fraction,
        "the minimum trade",
    )?);

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

    // Raw values first: rounding happens per field, after every raw figure is known.
    struct Raw<'a> {
        symbol: &'a Symbol,
        target: Decimal,
        current: Decimal,
    }
    let mut raws = Vec::with_capacity(symbols.len());
    for symbol in symbols {
        let current = match held.get(symbol) {
            Some(position) => mul(position.qty, position.price, "a position's value")?,
            None => {
                // A symbol we buy into needs a price to size the order later; fail now, not then.
                let price = snapshot
                    .prices
                    .get(symbol)
                    .ok_or_else(|| PlanError::MissingPrice(symbol.clone()))?;
                check_price(symbol, *price)?;
                Decimal::ZERO
            }
        };
        let weight = target.get(symbol).copied().unwrap_or_default();
        raws.push(Raw {
            symbol,
            target: mul(weight, effective_value, "a target value")?,
            current,
        });
    }
    let invested = sum(
        raws.iter().map(|r| r.current),
        "the sum of the current values",
    )?;
    let targeted = sum(
        raws.iter().map(|r| r.target),
        "the sum of the target values",
    )?;
    let denominator = invested.max(targeted);

    let mut items = Vec::with_capacity(raws.len());
    let mut comparison = AllocationComparison::default();
    for raw in &raws {
        let trade = raw.target - raw.current;
        let current_weight = div(raw.current, denominator)?;
        let target_weight = div(raw.target, denominator)?;
        let action = match trade {
            t if t > Decimal::ZERO => TradeAction::Buy,
            t if t < Decimal::ZERO => TradeAction::Sell,
            _ => TradeAction::Hold,
        };
        let (target_value, current_value) = (money(raw.target), money(raw.current));
        comparison
            .target_values
            .insert(raw.symbol.clone(), target_value);
        comparison
            .current_values
            .insert(raw.symbol.clone(), current_value);
        comparison.deltas.insert(raw.symbol.clone(), money(trade));
        items.push(PlanItem {
            symbol: raw.symbol.clone(),
            current_weight: weight(current_weight),
            target_weight: weight(target_weight),
            weight_diff: weight(target_weight - current_weight),
            target_value,
            current_value,
            trade_amount: money(trade),
            action,
            priority: priority(trade),
        });
    }
    // Stable: equal keys stay in symbol order.
    items.sort_by_key(|item| (item.action, item.priority));
    for item in &mut items {
        if item.action != TradeAction::Hold && item.trade_amount.abs() < min_trade {
            // Below the minimum trade: held where it stands in the plan, as the Python planner does.
            item.action = TradeAction::Hold;
            item.trade_amount = money(Decimal::ZERO);
        }
    }
    let trading = items.iter().filter(|i| i.action != TradeAction::Hold);
    let total_trade_value = money(sum(
        trading.clone().map(|i| i.trade_amount.abs()),
        "the total trade value",
    )?);
    let trades_required = trading.count() > 0;
    Ok(RebalanceProposal {
        items,
        total_portfolio_value: money(portfolio_value),
        total_trade_value,
        allocation_comparison: comparison,
        trades_required,
    })
}

fn sum(mut values: impl Iterator<Item = Decimal>, what: &str) -> Result<Decimal, PlanError> {
    values
        .try_fold(Decimal::ZERO, Decimal::checked_add)
        .ok_or_else(|| PlanError::Overflow(what.to_owned()))
}

fn mul(a: Decimal, b: Decimal, what: &str) -> Result<Decimal, PlanError> {
    a.checked_mul(b)
        .ok_or_else(|| PlanError::Overflow(format!("{what} ({a} × {b})")))
}

fn div(a: Decimal, b: Decimal) -> Result<Decimal, PlanError> {
    if b.is_zero() {
        return Ok(Decimal::ZERO);
    }
    a.checked_div(b)
        .ok_or_else(|| PlanError::Overflow(format!("a weight ({a} / {b})")))
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
