//! The checks a plan must pass before its first order: fresh (its age, its workflow's age, a
//! date not in the future), made from the account as it is now (drift), consistent with itself
//! and the account, and within the stage's pre-trade limits — and the limits every order must
//! keep once the plan has started. Pure functions of the plan, the account, the broker's orders
//! of the day and the time, so each is tested at, just below and just above its limit.

use std::collections::{BTreeMap, BTreeSet};

use alchemiser_bus::HandlerError;
use alchemiser_events::{Decimal, PlanItem, RebalancePlan, Symbol, TradeAction};
use chrono::{DateTime, TimeDelta, Utc};

use super::refusal::{share, Refusal};
use super::report::OrderRecord;
use super::{checked, ExecutionSettings, RiskLimits};
use crate::broker::{Holdings, OrderOutcome, OrderSide};

/// What the broker's orders of the trading day add up to: the daily limits count these, never
/// the function's memory (another invocation, plan or person may have traded since).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DayTally {
    /// Orders the broker took today, in any state.
    pub(crate) orders: u32,
    /// Bought today: what filled, at its fill price, and what open buys may still fill.
    pub(crate) bought: Decimal,
}

impl DayTally {
    /// The symbols whose latest price [`DayTally::of`] needs: buys still open with no price of
    /// their own (a market order has none until something of it fills).
    pub(crate) fn unpriced(orders: &[OrderOutcome]) -> BTreeSet<Symbol> {
        orders
            .iter()
            .filter(|o| o.side == OrderSide::Buy && o.fill_price.is_none())
            .filter(|o| !o.open_qty().is_zero())
            .map(|o| o.symbol.clone())
            .collect()
    }

    /// The tally of the broker's orders of the session. An open buy counts what is still open
    /// (it may still fill) at its average fill price or, with nothing filled yet, at the
    /// `latest` price of its symbol (one for each symbol [`DayTally::unpriced`] names).
    pub(crate) fn of(
        orders: &[OrderOutcome],
        latest: &BTreeMap<Symbol, Decimal>,
    ) -> Result<Self, HandlerError> {
        let mut tally = Self::default();
        for order in orders {
            tally.orders = tally.orders.saturating_add(1);
            if order.side != OrderSide::Buy {
                continue;
            }
            let filled = checked(order.filled_value(), || {
                format!("the value filled of {}", order.client_order_id)
            })?;
            let open_qty = order.open_qty();
            let open = if open_qty.is_zero() {
                Decimal::ZERO
            } else {
                let price = order
                    .fill_price
                    .or_else(|| latest.get(&order.symbol).copied())
                    .ok_or_else(|| {
                        HandlerError::Permanent(format!(
                            "no price to value the open buy {} at: the tally was not given the latest price of {}",
                            order.client_order_id, order.symbol
                        ))
                    })?;
                checked(open_qty.checked_mul(price), || {
                    format!("the open value of {}", order.client_order_id)
                })?
            };
            tally.bought = checked(
                tally
                    .bought
                    .checked_add(filled)
                    .and_then(|v| v.checked_add(open)),
                || "the day's buys".into(),
            )?;
        }
        Ok(tally)
    }

    /// One more order placed, buying `bought` (zero for a sell).
    pub(crate) fn add(&mut self, bought: Decimal) {
        self.orders = self.orders.saturating_add(1);
        self.bought = self.bought.saturating_add(bought);
    }
}

/// What a plan buys and sells: Σ trade_amount of its BUY items, Σ |trade_amount| of its SELLs.
fn buys_and_sells(items: &[&PlanItem]) -> Result<(Decimal, Decimal), HandlerError> {
    let mut buys = Decimal::ZERO;
    let mut sells = Decimal::ZERO;
    for item in items {
        let (sum, what) = match item.action {
            TradeAction::Buy => (&mut buys, "buys"),
            TradeAction::Sell => (&mut sells, "sells"),
            TradeAction::Hold => continue,
        };
        *sum = checked(sum.checked_add(item.trade_amount.abs()), || {
            format!("the plan's {what}")
        })?;
    }
    Ok((buys, sells))
}

/// The checks of the plan as a whole, before its first order, in this order: consistent with
/// itself (target weights within 1 + its tolerance) and with the account (buys within equity
/// plus the sells' proceeds), buys allowed, each item within the order limit, turnover, and
/// the day's orders and buys with the plan's added. `items` are the plan's BUY and SELL items;
/// `equity` the account's value now; `day` the broker's orders of the day so far.
pub(crate) fn plan_limit_refusal(
    plan: &RebalancePlan,
    items: &[&PlanItem],
    limits: &RiskLimits,
    equity: Decimal,
    day: DayTally,
) -> Result<Option<Refusal>, HandlerError> {
    let weights = plan.items.iter().try_fold(Decimal::ZERO, |sum, item| {
        sum.checked_add(item.target_weight)
    });
    let sum = checked(weights, || "the plan's target weights".into())?;
    if sum > Decimal::ONE.saturating_add(plan.max_drift_tolerance) {
        return Ok(Some(Refusal::WeightsOverOne {
            sum,
            tolerance: plan.max_drift_tolerance,
        }));
    }
    let (buys, sells) = buys_and_sells(items)?;
    if buys > equity.saturating_add(sells) {
        return Ok(Some(Refusal::BuysBeyondMeans {
            buys,
            equity,
            sells,
        }));
    }
    let barred: Vec<String> = items
        .iter()
        .filter(|item| item.action == TradeAction::Buy && !limits.may_buy(&item.symbol))
        .map(|item| item.symbol.to_string())
        .collect();
    if !barred.is_empty() {
        return Ok(Some(not_allowed(barred, limits)));
    }
    if let Some(largest) = items
        .iter()
        .max_by(|a, b| a.trade_amount.abs().cmp(&b.trade_amount.abs()))
    {
        if largest.trade_amount.abs() > limits.max_order_notional {
            return Ok(Some(Refusal::OrderTooLarge {
                order: format!(
                    "the plan's {} {}",
                    side_word(largest.action),
                    largest.symbol
                ),
                notional: largest.trade_amount.abs(),
                max: limits.max_order_notional,
            }));
        }
    }
    let turned = buys.max(sells);
    let turnover = if equity <= Decimal::ZERO && turned > Decimal::ZERO {
        Decimal::MAX
    } else {
        share(turned, equity)
    };
    if turnover > limits.max_plan_turnover {
        return Ok(Some(Refusal::TurnoverTooHigh {
            turnover,
            equity,
            max: limits.max_plan_turnover,
        }));
    }
    let adding = u32::try_from(items.len()).unwrap_or(u32::MAX);
    if day.orders.saturating_add(adding) > limits.max_daily_orders {
        return Ok(Some(Refusal::DailyOrders {
            placed: day.orders,
            adding,
            max: limits.max_daily_orders,
        }));
    }
    if day.bought.saturating_add(buys) > limits.max_daily_buy_notional {
        return Ok(Some(Refusal::DailyBuyNotional {
            bought: day.bought,
            adding: buys,
            max: limits.max_daily_buy_notional,
        }));
    }
    Ok(None)
}

/// The limits of one order about to be placed: `side` `symbol` worth `notional` (shares × the
/// price they were sized at), with the day's orders so far.
pub(crate) fn order_limit_refusal(
    side: OrderSide,
    symbol: &Symbol,
    notional: Decimal,
    limits: &RiskLimits,
    day: DayTally,
) -> Option<Refusal> {
    if side == OrderSide::Buy && !limits.may_buy(symbol) {
        return Some(not_allowed(vec![symbol.to_string()], limits));
    }
    if notional > limits.max_order_notional {
        return Some(Refusal::OrderTooLarge {
            order: format!("the order to {} {symbol}", side.as_str()),
            notional,
            max: limits.max_order_notional,
        });
    }
    if day.orders.saturating_add(1) > limits.max_daily_orders {
        return Some(Refusal::DailyOrders {
            placed: day.orders,
            adding: 1,
            max: limits.max_daily_orders,
        });
    }
    if side == OrderSide::Buy && day.bought.saturating_add(notional) > limits.max_daily_buy_notional
    {
        return Some(Refusal::DailyBuyNotional {
            bought: day.bought,
            adding: notional,
            max: limits.max_daily_buy_notional,
        });
    }
    None
}

/// The plan's sells that did not do what it intended, once they are final: their unfilled part
/// at the price they were sized at (the plan's amount when one was never sized), added up.
/// Above the stage's threshold the buys are not placed: they were sized on cash those sells
/// were to free, and a broker refusing sells is worth a person's look before buying more.
pub(crate) fn failed_sell_refusal(
    sells: &[OrderRecord],
    items: &[&PlanItem],
    limits: &RiskLimits,
) -> Result<Option<Refusal>, HandlerError> {
    let mut failed = Decimal::ZERO;
    let mut symbols = Vec::new();
    for (record, item) in sells.iter().zip(items) {
        if record.status.succeeded() {
            continue;
        }
        let unfilled = if record.qty.is_zero() || record.price.is_zero() {
            item.trade_amount.abs()
        } else {
            let open = (record.qty - record.filled_qty.unwrap_or_default()).max(Decimal::ZERO);
            checked(open.checked_mul(record.price), || {
                format!("the unfilled value of the sell of {}", record.symbol)
            })?
        };
        if unfilled.is_zero() {
            continue;
        }
        symbols.push(format!("{} {}", record.symbol, unfilled.round_dp(2)));
        failed = checked(failed.checked_add(unfilled), || "the failed sells".into())?;
    }
    Ok(
        (failed > limits.max_failed_sell_notional).then_some(Refusal::FailedSells {
            failed,
            symbols,
            max: limits.max_failed_sell_notional,
        }),
    )
}

fn not_allowed(symbols: Vec<String>, limits: &RiskLimits) -> Refusal {
    Refusal::NotAllowed {
        symbols,
        allowed: limits
            .buy_allow_list
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

fn side_word(action: TradeAction) -> &'static str {
    match action {
        TradeAction::Sell => "sell of",
        _ => "buy of",
    }
}

/// The age checks at `now`: dated in the future beyond the clock skew, older than the plan
/// age, or of a workflow past its deadline.
pub(crate) fn age_refusal(
    plan: &RebalancePlan,
    workflow_started_at: DateTime<Utc>,
    settings: &ExecutionSettings,
    now: DateTime<Utc>,
) -> Option<Refusal> {
    let age = now - plan.timestamp.0;
    if -age > delta(settings.max_clock_skew) {
        return Some(Refusal::FromTheFuture { ahead: -age });
    }
    if age > delta(settings.max_plan_age) {
        return Some(Refusal::TooOld {
            age,
            max: settings.max_plan_age,
        });
    }
    deadline_refusal(workflow_started_at, settings, now)
}

/// The workflow's deadline at `now`: past it, nothing more of the plan is placed.
pub(crate) fn deadline_refusal(
    workflow_started_at: DateTime<Utc>,
    settings: &ExecutionSettings,
    now: DateTime<Utc>,
) -> Option<Refusal> {
    let workflow_age = now - workflow_started_at;
    (workflow_age > delta(settings.max_workflow_age)).then_some(Refusal::WorkflowTooOld {
        age: workflow_age,
        max: settings.max_workflow_age,
    })
}

pub(crate) fn delta(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// Compares what the plan says the account held with what it holds now: the changes of every
/// symbol's value and of the cash, added up, as a share of the plan's portfolio value, must be
/// within the plan's `max_drift_tolerance` — added up, because each change a little short of the
/// tolerance would together leave the plan's buys short by several times it. A plan that states
/// no portfolio value is refused: a zero total would turn the check off.
pub(crate) fn drift_refusal(
    plan: &RebalancePlan,
    holdings: &Holdings,
    cash: Decimal,
) -> Result<Option<Refusal>, HandlerError> {
    let total = plan.total_portfolio_value;
    let mut planned: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut now: BTreeMap<String, Decimal> = BTreeMap::new();
    for item in &plan.items {
        planned.insert(item.symbol.to_string(), item.current_value);
    }
    for position in &holdings.positions {
        let value = checked(position.qty.checked_mul(position.price), || {
            format!(
                "the value of {} {} at {}",
                position.qty, position.symbol, position.price
            )
        })?;
        now.insert(position.symbol.to_string(), value);
    }
    let invested = planned
        .values()
        .try_fold(Decimal::ZERO, |sum, value| sum.checked_add(*value));
    let planned_cash = checked(invested, || "the plan's current values".into())?;
    planned.insert("cash".into(), (total - planned_cash).max(Decimal::ZERO));
    now.insert("cash".into(), cash);
    let names: BTreeSet<&String> = planned.keys().chain(now.keys()).collect();
    let changes: Vec<(Decimal, &String, Decimal, Decimal)> = names
        .into_iter()
        .map(|name| {
            let was = planned.get(name).copied().unwrap_or_default();
            let is = now.get(name).copied().unwrap_or_default();
            ((is - was).abs(), name, was, is)
        })
        .collect();
    let moved = changes
        .iter()
        .try_fold(Decimal::ZERO, |sum, (change, ..)| sum.checked_add(*change));
    let moved = checked(moved, || "the account's changes since the plan".into())?;
    let Some((_, what, was, is)) = changes.iter().max_by(|a, b| a.0.cmp(&b.0)) else {
        return Ok(None);
    };
    let refusal = |moved: Decimal| Refusal::Drift {
        moved,
        what: (*what).clone(),
        planned: *was,
        now: is.round_dp(2),
        total,
        tolerance: plan.max_drift_tolerance,
    };
    if total <= Decimal::ZERO {
        return Ok(Some(Refusal::Drift {
            moved: Decimal::ONE,
            what: "total_portfolio_value".into(),
            planned: total,
            now: now
                .values()
                .fold(Decimal::ZERO, |sum, value| sum.saturating_add(*value))
                .round_dp(2),
            total,
            tolerance: plan.max_drift_tolerance,
        }));
    }
    let moved = share(moved, total);
    Ok((moved > plan.max_drift_tolerance).then(|| refusal(moved.round_dp(4))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Position;
    use crate::orders::RecordStatus;
    use alchemiser_events::Symbol;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn plan(made: &str, total: &str, spy_value: &str) -> RebalancePlan {
        serde_json::from_value(serde_json::json!({
            "correlation_id": "c", "causation_id": "s", "timestamp": made, "plan_id": "p",
            "items": [{"symbol": "SPY", "current_weight": "1", "target_weight": "1",
                       "weight_diff": "0", "target_value": spy_value, "current_value": spy_value,
                       "trade_amount": "0", "action": "HOLD", "priority": 1}],
            "total_portfolio_value": total, "total_trade_value": "0",
            "max_drift_tolerance": "0.05"
        }))
        .unwrap()
    }

    fn settings() -> ExecutionSettings {
        ExecutionSettings::default()
    }

    #[test]
    fn plan_age_at_just_below_and_just_above_its_limit() {
        let made = "2026-12-01T14:00:00Z";
        let p = plan(made, "1000", "1000");
        let started = at(made);
        let limit = at(made) + delta(settings().max_plan_age);
        assert_eq!(age_refusal(&p, started, &settings(), limit), None);
        assert_eq!(
            age_refusal(&p, started, &settings(), limit - TimeDelta::seconds(1)),
            None
        );
        let refused = age_refusal(&p, started, &settings(), limit + TimeDelta::seconds(1));
        assert_eq!(refused.map(|r| r.check()), Some("plan_age"));
    }

    #[test]
    fn workflow_age_at_just_below_and_just_above_its_deadline() {
        let made = "2026-12-01T14:00:00Z";
        let p = plan(made, "1000", "1000");
        // The workflow started 20 minutes before the plan; the plan itself is fresh.
        let started = at(made) - TimeDelta::minutes(20);
        let deadline = started + delta(settings().max_workflow_age);
        assert_eq!(age_refusal(&p, started, &settings(), deadline), None);
        let refused = age_refusal(&p, started, &settings(), deadline + TimeDelta::seconds(1));
        assert_eq!(refused.map(|r| r.check()), Some("workflow_age"));
    }

    #[test]
    fn clock_skew_at_just_below_and_just_above_its_limit() {
        let made = "2026-12-01T14:00:00Z";
        let p = plan(made, "1000", "1000");
        let skew = delta(settings().max_clock_skew);
        let now = at(made) - skew;
        assert_eq!(age_refusal(&p, at(made), &settings(), now), None);
        let refused = age_refusal(&p, at(made), &settings(), now - TimeDelta::seconds(1));
        assert_eq!(
            refused,
            Some(Refusal::FromTheFuture {
                ahead: skew + TimeDelta::seconds(1)
            }),
            "the plan is dated ahead of now by the skew and a second"
        );
    }

    fn holding(spy: &str) -> Holdings {
        Holdings {
            positions: vec![Position {
                symbol: Symbol::parse("SPY").unwrap(),
                qty: spy.parse().unwrap(),
                price: Decimal::ONE,
            }],
            unsupported: Vec::new(),
        }
    }

    #[test]
    fn drift_at_just_below_and_just_above_the_tolerance() {
        let p = plan("2026-12-01T14:00:00Z", "1000", "1000");
        // 5% of 1,000 is 50: exactly at the tolerance trades, a cent beyond does not.
        assert_eq!(
            drift_refusal(&p, &holding("950"), Decimal::ZERO).unwrap(),
            None
        );
        assert_eq!(
            drift_refusal(&p, &holding("1050"), Decimal::ZERO).unwrap(),
            None
        );
        let refused = drift_refusal(&p, &holding("949.99"), Decimal::ZERO).unwrap();
        assert!(
            matches!(&refused, Some(Refusal::Drift { what, .. }) if what == "SPY"),
            "{refused:?}"
        );
        // Cash that appeared from nowhere is drift too.
        let refused = drift_refusal(&p, &holding("1000"), "50.01".parse().unwrap()).unwrap();
        assert!(
            matches!(&refused, Some(Refusal::Drift { what, .. }) if what == "cash"),
            "{refused:?}"
        );
        // Changes each within the tolerance add up: 30 less SPY and 30 more cash is 6%.
        let refused = drift_refusal(&p, &holding("970"), "30".parse().unwrap()).unwrap();
        assert!(
            matches!(&refused, Some(Refusal::Drift { moved, .. }) if moved.to_string() == "0.06"),
            "{refused:?}"
        );
        assert_eq!(
            drift_refusal(&p, &holding("975"), "25".parse().unwrap()).unwrap(),
            None
        );
    }

    #[test]
    fn a_plan_that_states_no_portfolio_value_is_refused_not_excused() {
        let p = plan("2026-12-01T14:00:00Z", "0", "0");
        let refused = drift_refusal(&p, &holding("1000"), Decimal::ZERO).unwrap();
        assert!(
            matches!(&refused, Some(Refusal::Drift { what, .. }) if what == "total_portfolio_value"),
            "{refused:?}"
        );
    }

    /// The example plan: SELL 3,040 of TLT, BUY 2,940 of SPY, on an account of 10,000.
    fn rotation() -> RebalancePlan {
        serde_json::from_value(serde_json::json!({
            "correlation_id": "c", "causation_id": "s", "timestamp": "2026-12-01T14:00:00Z",
            "plan_id": "p", "total_portfolio_value": "10000", "total_trade_value": "5980",
            "max_drift_tolerance": "0.05",
            "items": [
                {"symbol": "TLT", "current_weight": "0.7", "target_weight": "0.396",
                 "weight_diff": "-0.304", "target_value": "3960", "current_value": "7000",
                 "trade_amount": "-3040", "action": "SELL", "priority": 2},
                {"symbol": "SPY", "current_weight": "0.3", "target_weight": "0.594",
                 "weight_diff": "0.294", "target_value": "5940", "current_value": "3000",
                 "trade_amount": "2940", "action": "BUY", "priority": 2}]
        }))
        .unwrap()
    }

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    /// The plan-level check of `plan` under `limits` on an account worth `equity`, `day` so far.
    fn plan_check(
        plan: &RebalancePlan,
        limits: &RiskLimits,
        equity: &str,
        day: DayTally,
    ) -> Option<&'static str> {
        let items: Vec<&PlanItem> = plan
            .items
            .iter()
            .filter(|i| i.action != TradeAction::Hold)
            .collect();
        plan_limit_refusal(plan, &items, limits, d(equity), day)
            .unwrap()
            .map(|r| r.check())
    }

    fn open() -> RiskLimits {
        RiskLimits::unlimited()
    }

    #[test]
    fn unlimited_limits_pass_what_the_defaults_refuse() {
        let mut p = rotation();
        p.items[0].trade_amount = d("-1000000");
        p.items[1].trade_amount = d("1000000");
        let busy_day = DayTally {
            orders: 1_000,
            bought: d("10000000"),
        };
        assert!(plan_check(&p, &RiskLimits::default(), "10000", busy_day).is_some());
        assert_eq!(plan_check(&p, &open(), "10000", busy_day), None);
    }

    #[test]
    fn target_weights_at_just_below_and_just_above_one_plus_the_tolerance() {
        let mut p = rotation();
        // The operator's case: weights summing to 1.29 pass `validate` but never trade.
        p.items[1].target_weight = d("0.894");
        assert_eq!(
            plan_check(&p, &open(), "10000", DayTally::default()),
            Some("target_weights")
        );
        p.items[1].target_weight = d("0.654");
        assert_eq!(
            plan_check(&p, &open(), "10000", DayTally::default()),
            None,
            "1.05 is at the limit"
        );
        p.items[1].target_weight = d("0.6539");
        assert_eq!(plan_check(&p, &open(), "10000", DayTally::default()), None);
        p.items[1].target_weight = d("0.6541");
        let refused = plan_limit_refusal(&p, &[], &open(), d("10000"), DayTally::default())
            .unwrap()
            .unwrap();
        let breach = refused.breach().unwrap();
        assert_eq!(
            (breach.configured.as_str(), breach.actual.as_str()),
            ("1.05", "1.0501")
        );
    }

    #[test]
    fn buys_at_just_below_and_just_above_equity_plus_the_sells() {
        let mut p = rotation();
        // Equity 10,000 plus 3,040 of sells: 13,040 may be bought, no more.
        for (buy, refused) in [("13040", false), ("13039.99", false), ("13040.01", true)] {
            p.items[1].trade_amount = d(buy);
            let got = plan_check(&p, &open(), "10000", DayTally::default());
            assert_eq!(got == Some("buys_over_equity"), refused, "{buy}: {got:?}");
        }
        let items: Vec<&PlanItem> = p.items.iter().collect();
        let refused = plan_limit_refusal(&p, &items, &open(), d("10000"), DayTally::default())
            .unwrap()
            .unwrap();
        let breach = refused.breach().unwrap();
        assert_eq!(
            (breach.configured.as_str(), breach.actual.as_str()),
            ("13040", "13040.01")
        );
    }

    #[test]
    fn the_allow_list_bars_buys_only() {
        let p = rotation();
        let only_tlt = RiskLimits {
            buy_allow_list: vec![Symbol::parse("TLT").unwrap()],
            ..open()
        };
        assert_eq!(
            plan_check(&p, &only_tlt, "10000", DayTally::default()),
            Some("buy_allow_list")
        );
        let only_spy = RiskLimits {
            buy_allow_list: vec![Symbol::parse("SPY").unwrap()],
            ..open()
        };
        // TLT is sold, never bought: the list does not stop a sell.
        assert_eq!(
            plan_check(&p, &only_spy, "10000", DayTally::default()),
            None
        );
        let spy = Symbol::parse("SPY").unwrap();
        let tlt = Symbol::parse("TLT").unwrap();
        let order = |side, symbol| {
            order_limit_refusal(side, symbol, d("1"), &only_spy, DayTally::default())
                .map(|r| r.check())
        };
        assert_eq!(order(OrderSide::Buy, &tlt), Some("buy_allow_list"));
        assert_eq!(order(OrderSide::Sell, &tlt), None);
        assert_eq!(order(OrderSide::Buy, &spy), None);
    }

    #[test]
    fn order_notional_at_just_below_and_just_above_its_limit() {
        let p = rotation();
        // The largest item is the sell of 3,040.
        for (max, refused) in [("3040", false), ("3040.01", false), ("3039.99", true)] {
            let limits = RiskLimits {
                max_order_notional: d(max),
                ..open()
            };
            let got = plan_check(&p, &limits, "10000", DayTally::default());
            assert_eq!(got == Some("max_order_notional"), refused, "{max}: {got:?}");
            let order = order_limit_refusal(
                OrderSide::Sell,
                &Symbol::parse("TLT").unwrap(),
                d("3040"),
                &limits,
                DayTally::default(),
            );
            assert_eq!(order.is_some(), refused, "{max}: {order:?}");
        }
        let limits = RiskLimits {
            max_order_notional: d("3039.99"),
            ..open()
        };
        let items: Vec<&PlanItem> = p.items.iter().collect();
        let text = plan_limit_refusal(&p, &items, &limits, d("10000"), DayTally::default())
            .unwrap()
            .unwrap()
            .to_string();
        assert!(text.contains("the plan's sell of TLT"), "{text}");
        let mut bigger_buy = p.clone();
        bigger_buy.items[1].trade_amount = d("3050");
        let items: Vec<&PlanItem> = bigger_buy.items.iter().collect();
        let text = plan_limit_refusal(
            &bigger_buy,
            &items,
            &limits,
            d("10000"),
            DayTally::default(),
        )
        .unwrap()
        .unwrap()
        .to_string();
        assert!(text.contains("the plan's buy of SPY"), "{text}");
        let refusal = order_limit_refusal(
            OrderSide::Sell,
            &Symbol::parse("TLT").unwrap(),
            d("3040"),
            &limits,
            DayTally::default(),
        )
        .unwrap();
        let text = refusal.to_string();
        assert!(
            text.contains("sell TLT")
                && text.contains("3040")
                && text.contains("MAX_ORDER_NOTIONAL of 3039.99"),
            "{text}"
        );
    }

    #[test]
    fn turnover_at_just_below_and_just_above_its_limit() {
        let p = rotation();
        // The larger side is the sell of 3,040 on 10,000: 0.304.
        for (max, refused) in [("0.304", false), ("0.3041", false), ("0.3039", true)] {
            let limits = RiskLimits {
                max_plan_turnover: d(max),
                ..open()
            };
            let got = plan_check(&p, &limits, "10000", DayTally::default());
            assert_eq!(got == Some("max_plan_turnover"), refused, "{max}: {got:?}");
        }
        // No equity, something to trade: all of it, whatever the limit.
        let limits = RiskLimits {
            max_plan_turnover: d("1000"),
            ..open()
        };
        assert_eq!(
            plan_check(&p, &limits, "0", DayTally::default()),
            Some("max_plan_turnover")
        );
        // No equity and nothing to trade: nothing turns over.
        let nothing = plan("2026-12-01T14:00:00Z", "0", "0");
        assert_eq!(
            plan_check(&nothing, &limits, "0", DayTally::default()),
            None
        );
    }

    #[test]
    fn daily_orders_at_just_below_and_just_above_the_limit() {
        let p = rotation();
        let limits = RiskLimits {
            max_daily_orders: 5,
            ..open()
        };
        let day = |orders| DayTally {
            orders,
            bought: Decimal::ZERO,
        };
        // Two orders to add: 3 + 2 = 5 is at the limit, 4 + 2 beyond it.
        assert_eq!(plan_check(&p, &limits, "10000", day(2)), None);
        assert_eq!(plan_check(&p, &limits, "10000", day(3)), None);
        assert_eq!(
            plan_check(&p, &limits, "10000", day(4)),
            Some("max_daily_orders")
        );
        let spy = Symbol::parse("SPY").unwrap();
        let order = |n| {
            order_limit_refusal(OrderSide::Buy, &spy, d("1"), &limits, day(n)).map(|r| r.check())
        };
        assert_eq!(order(3), None);
        assert_eq!(order(4), None);
        assert_eq!(order(5), Some("max_daily_orders"));
    }

    #[test]
    fn daily_buys_at_just_below_and_just_above_the_limit() {
        let p = rotation();
        let limits = RiskLimits {
            max_daily_buy_notional: d("10000"),
            ..open()
        };
        let day = |bought: &str| DayTally {
            orders: 0,
            bought: d(bought),
        };
        // 2,940 to buy: 7,060 bought before is at the limit, a cent more beyond it.
        assert_eq!(plan_check(&p, &limits, "10000", day("7059.99")), None);
        assert_eq!(plan_check(&p, &limits, "10000", day("7060")), None);
        assert_eq!(
            plan_check(&p, &limits, "10000", day("7060.01")),
            Some("max_daily_buy_notional")
        );
        let spy = Symbol::parse("SPY").unwrap();
        let tlt = Symbol::parse("TLT").unwrap();
        let order = |side, symbol, bought| {
            order_limit_refusal(side, symbol, d("2940"), &limits, day(bought)).map(|r| r.check())
        };
        assert_eq!(order(OrderSide::Buy, &spy, "7060"), None);
        assert_eq!(
            order(OrderSide::Buy, &spy, "7060.01"),
            Some("max_daily_buy_notional")
        );
        // Sells are not buys.
        assert_eq!(order(OrderSide::Sell, &tlt, "9999"), None);
    }

    fn outcome(
        side: OrderSide,
        qty: &str,
        filled: &str,
        fill: Option<&str>,
        status: crate::broker::OrderStatus,
    ) -> OrderOutcome {
        OrderOutcome {
            order_id: "o".into(),
            client_order_id: format!("{}-{qty}", side.as_str()),
            symbol: Symbol::parse("SPY").unwrap(),
            side,
            qty: d(qty),
            status,
            broker_status: "x".into(),
            filled_qty: d(filled),
            fill_price: fill.map(d),
            submitted_at: None,
            replaced_by: None,
        }
    }

    #[test]
    fn the_day_counts_every_order_and_what_buys_filled_or_may_still_fill() {
        use crate::broker::OrderStatus::*;
        let orders = [
            outcome(OrderSide::Buy, "10", "10", Some("100"), Filled),
            outcome(OrderSide::Buy, "10", "4", Some("100"), Canceled),
            outcome(OrderSide::Buy, "10", "0", None, Pending),
            outcome(OrderSide::Sell, "10", "10", Some("100"), Filled),
            outcome(OrderSide::Buy, "5", "0", None, Rejected),
        ];
        // 1,000 filled + 400 filled + 10 open at the latest price (90).
        let latest = BTreeMap::from([(Symbol::parse("SPY").unwrap(), d("90"))]);
        let day = DayTally::of(&orders, &latest).unwrap();
        assert_eq!(
            day,
            DayTally {
                orders: 5,
                bought: d("2300")
            }
        );
        let mut day = day;
        day.add(d("50"));
        assert_eq!(
            day,
            DayTally {
                orders: 6,
                bought: d("2350")
            }
        );
    }

    #[test]
    fn only_open_buys_with_nothing_filled_need_the_latest_price() {
        use crate::broker::OrderStatus::*;
        let of = |symbol: &str, mut order: OrderOutcome| {
            order.symbol = Symbol::parse(symbol).unwrap();
            order
        };
        let orders = [
            of("AAA", outcome(OrderSide::Buy, "10", "0", None, Pending)),
            of(
                "BBB",
                outcome(OrderSide::Buy, "10", "4", Some("100"), PartiallyFilled),
            ),
            of("CCC", outcome(OrderSide::Sell, "10", "0", None, Pending)),
            of("DDD", outcome(OrderSide::Buy, "10", "0", None, Rejected)),
            of(
                "EEE",
                outcome(OrderSide::Buy, "10", "10", Some("100"), Filled),
            ),
        ];
        assert_eq!(
            DayTally::unpriced(&orders),
            BTreeSet::from([Symbol::parse("AAA").unwrap()])
        );
        // Without it, the open buy is an error naming it, never valued at nothing.
        let error = DayTally::of(&orders, &BTreeMap::new()).unwrap_err();
        assert!(error.to_string().contains("AAA"), "{error}");
        let latest = BTreeMap::from([(Symbol::parse("AAA").unwrap(), d("50"))]);
        // AAA 10 open at 50, BBB 4 filled and 6 open at 100, EEE 10 filled at 100.
        assert_eq!(
            DayTally::of(&orders, &latest).unwrap(),
            DayTally {
                orders: 5,
                bought: d("2500")
            }
        );
    }

    fn sell_record(
        status: RecordStatus,
        qty: &str,
        filled: Option<&str>,
        price: &str,
    ) -> OrderRecord {
        OrderRecord {
            symbol: Symbol::parse("TLT").unwrap(),
            side: OrderSide::Sell,
            qty: d(qty),
            price: d(price),
            client_order_id: "c".into(),
            status,
            broker_status: None,
            order_id: None,
            filled_qty: filled.map(d),
            fill_price: None,
            error: None,
        }
    }

    #[test]
    fn failed_sells_at_just_below_and_just_above_the_threshold() {
        let p = rotation();
        let items: Vec<&PlanItem> = p.items.iter().take(1).collect();
        let limits = RiskLimits {
            max_failed_sell_notional: d("500"),
            ..open()
        };
        let check = |record: OrderRecord| {
            failed_sell_refusal(&[record], &items, &limits)
                .unwrap()
                .map(|r| r.check())
        };
        // 10 shares at 50, 5 of them filled before it was canceled: 250 failed.
        assert_eq!(
            check(sell_record(RecordStatus::Canceled, "10", Some("5"), "50")),
            None
        );
        // Exactly 500 is at the threshold; 500.01 above it.
        assert_eq!(
            check(sell_record(RecordStatus::Rejected, "10", Some("0"), "50")),
            None
        );
        assert_eq!(
            check(sell_record(
                RecordStatus::Rejected,
                "10",
                Some("0"),
                "49.999"
            )),
            None
        );
        assert_eq!(
            check(sell_record(RecordStatus::Expired, "10.0002", None, "50")),
            Some("max_failed_sell_notional")
        );
        // A sell never sized (no quantity, no price, or neither) counts the plan's amount (3,040).
        for (qty, price) in [("0", "0"), ("0", "50"), ("10", "0")] {
            assert_eq!(
                check(sell_record(RecordStatus::Failed, qty, None, price)),
                Some("max_failed_sell_notional"),
                "qty {qty}, price {price}"
            );
        }
        assert_eq!(
            check(sell_record(RecordStatus::Filled, "10", Some("10"), "50")),
            None
        );
        assert_eq!(
            check(sell_record(RecordStatus::NotNeeded, "0", None, "0")),
            None
        );
    }
}
