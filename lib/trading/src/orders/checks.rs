//! The checks a plan must pass before its first order: fresh (its age, its workflow's age, a
//! date not in the future), and made from the account as it is now (drift). Pure functions of
//! the plan, the account and the time, so each is tested at, just below and just above its limit.

use std::collections::{BTreeMap, BTreeSet};

use alchemiser_bus::HandlerError;
use alchemiser_events::{Decimal, RebalancePlan};
use chrono::{DateTime, TimeDelta, Utc};

use super::refusal::{share, Refusal};
use super::{checked, ExecutionSettings};
use crate::broker::Holdings;

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
    use alchemiser_events::Symbol;
    use std::time::Duration;

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
        assert_eq!(refused.map(|r| r.check()), Some("clock_skew"));
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
        let _ = Duration::ZERO;
    }
}
