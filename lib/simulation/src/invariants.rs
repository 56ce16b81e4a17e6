//! What must hold after any run, whatever the dice did — read from the broker's order log and
//! the event log, never from the code's own records: no order nobody intended (from a live,
//! fresh plan, once, while the market is open, one plan at a time), none missed silently (every
//! intended order filled or named in its workflow's failure, every report equal to the broker's
//! fills, every completion with the account on target, every workflow ended, every failure
//! explained by a fault the simulation injected), and nothing of a forger's (no order for a
//! forged plan, no trade or completion caused by one, each one refused with a dead letter).
//!
//! Each workflow is checked once it can see no more events ([`check_workflow`]); what spans
//! workflows (orders of two plans working at once, starts, permanent failures) is checked at the
//! end ([`check_run`]).

use std::collections::{BTreeMap, BTreeSet};

use alchemiser_events::Decimal;
use alchemiser_events::{Event, HandlerName, RebalancePlan, TradeAction};
use alchemiser_ledger::{summarize, Entry, LedgerStore, WorkflowState};
use alchemiser_trading::{
    client_order_id, BookEntry, NyseRules, OrderSide, OrderStatus, RecordStatus,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::forger::{Forgery, Path};
use crate::world::{at_once, Kind, WorkflowLog, WorldRef};

/// One broken invariant, with the case that breaks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The invariant's name.
    pub invariant: &'static str,
    /// The case.
    pub detail: String,
    /// What happened to the workflow, in order: its events and the broker's orders (the first
    /// violation of a workflow carries it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
}

impl Violation {
    /// `invariant` broken by `detail` (the trace is added later, to a workflow's first).
    fn new(invariant: &'static str, detail: String) -> Self {
        Self {
            invariant,
            detail,
            trace: Vec::new(),
        }
    }
}

/// The most violations a report lists (all are counted), besides the first of each invariant.
const LISTED: usize = 200;

/// What the per-workflow checks found so far.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Workflows checked.
    pub workflows: usize,
    /// Workflows by final state in the ledger.
    pub states: BTreeMap<String, usize>,
    /// Failed workflows by why: the refusal's check, else the failing step.
    pub failures: BTreeMap<String, usize>,
    /// Live events put on the bus.
    pub events_published: usize,
    /// Broken invariants (the first ones).
    pub violations: Vec<Violation>,
    /// How many were broken in all.
    pub violation_count: usize,
}

impl Checked {
    /// Adds one workflow's results.
    pub fn add(&mut self, log: &WorkflowLog, verdict: Verdict) {
        if log
            .published
            .iter()
            .any(|p| matches!(p.event, Event::WorkflowStarted(_)))
        {
            self.workflows += 1;
            *self.states.entry(verdict.state).or_default() += 1;
        }
        self.events_published += log.published.len();
        for failure in verdict.failures {
            *self.failures.entry(failure).or_default() += 1;
        }
        self.record(verdict.violations);
    }

    /// Adds violations found across workflows: the first ones, and the first of each invariant
    /// (a run that breaks one invariant often breaks another only after the first hundreds).
    pub fn record(&mut self, violations: Vec<Violation>) {
        self.violation_count += violations.len();
        for violation in violations {
            if self.violations.len() < LISTED
                || !self
                    .violations
                    .iter()
                    .any(|v| v.invariant == violation.invariant)
            {
                self.violations.push(violation);
            }
        }
    }
}

/// One workflow's results.
pub struct Verdict {
    state: String,
    failures: Vec<String>,
    violations: Vec<Violation>,
}

struct Plan<'a> {
    plan: &'a RebalancePlan,
    event_id: String,
    live: bool,
    /// (client order id, symbol, side) per BUY or SELL item.
    orders: Vec<(String, String, OrderSide)>,
}

/// What must have happened, in a run whose plans are sound, for an order of a failed plan's
/// report to end with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Explanation {
    /// Nothing: the trade did what the plan intended (filled; a sell of what the account no
    /// longer held, which places nothing; a dry run).
    NoneNeeded,
    /// The cash ran out before the buy.
    CashGone,
    /// A fault the simulation injected into the order (or a status nobody knows).
    InjectedFault,
}

impl Explanation {
    fn of(status: &str) -> Self {
        match serde_json::from_value::<RecordStatus>(Value::from(status)) {
            Ok(status) if status.succeeded() => Explanation::NoneNeeded,
            Ok(RecordStatus::Skipped) => Explanation::CashGone,
            _ => Explanation::InjectedFault,
        }
    }
}

/// Checks one workflow that can see no more events.
pub fn check_workflow(world: &WorldRef, log: &WorkflowLog) -> Verdict {
    let config = world.config();
    let mut violations = Vec::new();
    let mut fail = |invariant: &'static str, detail: String| {
        violations.push(Violation::new(invariant, detail));
    };
    let id = &log.correlation_id;
    let skew = TimeDelta::from_std(config.clock_skew * 2).unwrap_or_default();
    let started_at = log
        .published
        .iter()
        .filter_map(|p| match &p.event {
            Event::WorkflowStarted(started) => Some(started.header.timestamp.0),
            _ => None,
        })
        .min()
        .unwrap_or(log.first_seen);

    // The workflow's plans, and what the broker has of each.
    let mut plans: BTreeMap<String, Plan> = BTreeMap::new();
    for published in &log.published {
        let Event::RebalancePlanned(planned) = &published.event else {
            continue;
        };
        let plan = &planned.rebalance_plan;
        let live = planned.header.provenance().is_live();
        // A plan derived from a replay has its live twin's id (the plan id derives from the
        // signal): the live version is the plan, when there is one.
        if plans
            .get(&plan.plan_id)
            .is_some_and(|known| known.live || !live)
        {
            continue;
        }
        let orders = plan
            .items
            .iter()
            .filter_map(|item| {
                let side = match item.action {
                    TradeAction::Buy => OrderSide::Buy,
                    TradeAction::Sell => OrderSide::Sell,
                    TradeAction::Hold => return None,
                };
                Some((
                    client_order_id(&plan.plan_id, side, &item.symbol),
                    item.symbol.to_string(),
                    side,
                ))
            })
            .collect();
        plans.insert(
            plan.plan_id.clone(),
            Plan {
                plan,
                event_id: planned.header.event_id.clone(),
                live,
                orders,
            },
        );
    }
    let mut book: BTreeMap<String, BookEntry> = BTreeMap::new();
    for plan in plans.values() {
        for (coid, ..) in &plan.orders {
            if let Ok(Some(entry)) = at_once(world.market.broker.book_entry(coid)) {
                book.insert(coid.clone(), entry);
            }
        }
    }
    let plan_of = |coid: &str| {
        plans
            .values()
            .find(|p| p.orders.iter().any(|(c, ..)| c == coid))
    };

    // What the broker was sent.
    let mut sends: BTreeMap<&str, usize> = BTreeMap::new();
    let mut first_order: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    for sent in &log.sent {
        *sends.entry(sent.client_order_id.as_str()).or_default() += 1;
        let Some(plan) = plan_of(&sent.client_order_id) else {
            fail(
                "orders_from_live_plans",
                format!(
                    "{} {} ({}) is no published plan's order",
                    sent.side.as_str(),
                    sent.symbol,
                    sent.client_order_id
                ),
            );
            continue;
        };
        let first = first_order
            .entry(plan.plan.plan_id.clone())
            .or_insert(sent.at);
        *first = (*first).min(sent.at);
        let replayed = sent
            .during
            .as_ref()
            .is_none_or(|h| h.replayed || h.kind == Kind::Replay);
        if !plan.live || replayed {
            fail(
                "orders_from_live_plans",
                format!(
                    "{} {} of plan {} placed from a replay (plan live: {}, while handling {:?})",
                    sent.side.as_str(),
                    sent.symbol,
                    plan.plan.plan_id,
                    plan.live,
                    sent.during
                ),
            );
        }
        if sent.at - started_at
            > TimeDelta::from_std(config.workflow_deadline).unwrap_or_default() + skew
        {
            fail(
                "fresh_plans_only",
                format!(
                    "{} {} of plan {} placed {}s after its workflow started (deadline {}s)",
                    sent.side.as_str(),
                    sent.symbol,
                    plan.plan.plan_id,
                    (sent.at - started_at).num_seconds(),
                    config.workflow_deadline.as_secs()
                ),
            );
        }
        if !NyseRules.clock(sent.at).is_ok_and(|clock| clock.is_open) {
            fail(
                "no_order_while_market_closed",
                format!(
                    "{} {} of plan {} placed at {} while the market was closed",
                    sent.side.as_str(),
                    sent.symbol,
                    plan.plan.plan_id,
                    sent.at
                ),
            );
        }
    }
    for (coid, count) in &sends {
        if *count > 1 {
            fail(
                "one_send_per_order",
                format!("client order id {coid} reached the broker {count} times"),
            );
        }
    }
    for (plan_id, first) in &first_order {
        let plan = &plans[plan_id];
        let age = *first - plan.plan.timestamp.0;
        if age > TimeDelta::from_std(config.max_plan_age).unwrap_or_default() + skew {
            fail(
                "fresh_plans_only",
                format!(
                    "plan {plan_id}'s first order was placed {}s after the plan",
                    age.num_seconds()
                ),
            );
        }
    }
    if first_order.len() > 1 {
        fail(
            "one_plan_per_signal",
            format!(
                "workflow {id} traded {} plans: {:?}",
                first_order.len(),
                first_order.keys()
            ),
        );
    }

    // The reports, against the broker's order log.
    let by_execution = |p: &&crate::world::Published| p.by == "execution";
    let failures_of_execution: Vec<&alchemiser_events::WorkflowFailed> = log
        .published
        .iter()
        .filter(by_execution)
        .filter_map(|p| match &p.event {
            Event::WorkflowFailed(failed) => Some(failed),
            _ => None,
        })
        .collect();
    for published in log.published.iter().filter(by_execution) {
        let (plan_id, orders, placed, reported) = match &published.event {
            Event::TradeExecuted(executed) => (
                executed
                    .execution_data
                    .get("plan_id")
                    .and_then(Value::as_str),
                executed
                    .execution_data
                    .get("orders")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                Some(executed.orders_placed),
                true,
            ),
            Event::WorkflowFailed(failed) => (
                failed.error_details.get("plan_id").and_then(Value::as_str),
                failed
                    .error_details
                    .get("orders")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                failed
                    .error_details
                    .get("orders_placed")
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok()),
                failed.error_details.get("check").is_some(),
            ),
            _ => continue,
        };
        let Some(plan) = plan_id.and_then(|p| plans.get(p)) else {
            continue;
        };
        if published.event.header().provenance().replay_name.is_some() || !reported {
            continue;
        }
        let at_broker = plan
            .orders
            .iter()
            .filter(|(coid, ..)| book.contains_key(coid))
            .count();
        if let Some(placed) = placed {
            if placed as usize != at_broker {
                fail(
                    "reports_match_broker",
                    format!(
                        "{} of plan {} says {placed} order(s) placed; the broker has {at_broker}",
                        published.event.event_type(),
                        plan.plan.plan_id
                    ),
                );
            }
        }
        for order in &orders {
            let coid = order
                .get("client_order_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(entry) = book.get(coid) else {
                if order.get("order_id").is_some() {
                    fail(
                        "reports_match_broker",
                        format!(
                            "plan {} reports order {coid}, which the broker does not have",
                            plan.plan.plan_id
                        ),
                    );
                }
                continue;
            };
            let status = order
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let filled = order
                .get("filled_qty")
                .and_then(Value::as_str)
                .and_then(|q| q.parse::<rust_decimal::Decimal>().ok());
            let price = order
                .get("fill_price")
                .and_then(Value::as_str)
                .and_then(|q| q.parse::<rust_decimal::Decimal>().ok());
            let same = status == entry.order.status.as_str()
                && filled == Some(entry.order.filled_qty)
                && price == entry.order.fill_price;
            if !same {
                fail(
                    "reports_match_broker",
                    format!(
                        "plan {} reports {coid} as {status} {filled:?} at {price:?}; the broker has {} {} at {:?}",
                        plan.plan.plan_id, entry.order.status.as_str(), entry.order.filled_qty, entry.order.fill_price
                    ),
                );
            }
            if entry.finished_at.is_none_or(|done| done > published.at) {
                fail(
                    "orders_final_when_reported",
                    format!(
                        "plan {} reported {coid} at {} while the order was still open",
                        plan.plan.plan_id, published.at
                    ),
                );
            }
        }
    }

    // What execution reported of each order, and when: a sell it reported NOT_NEEDED must be of
    // a position the account really no longer held.
    let mut reported: BTreeMap<String, (String, DateTime<Utc>)> = BTreeMap::new();
    for published in log.published.iter().filter(by_execution) {
        if let Event::TradeExecuted(executed) = &published.event {
            for order in executed
                .execution_data
                .get("orders")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let coid = order
                    .get("client_order_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let status = order
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                reported.insert(coid.to_owned(), (status.to_owned(), published.at));
            }
        }
    }
    let not_needed = |coid: &str, symbol: &str| {
        reported.get(coid).is_some_and(|(status, at)| {
            status == "NOT_NEEDED" && world.market.position_at(symbol, *at).is_zero()
        })
    };
    for (coid, (status, at)) in &reported {
        if status == "NOT_NEEDED" {
            let symbol = coid.rsplit('-').next().unwrap_or_default();
            if !world.market.position_at(symbol, *at).is_zero() {
                fail(
                    "reports_match_broker",
                    format!(
                        "{coid} was reported NOT_NEEDED while the account held {} {symbol}",
                        world.market.position_at(symbol, *at)
                    ),
                );
            }
        }
    }

    // Every intended order of a live plan that started ends filled, or its workflow's failure
    // names it (or the plan's event sits in the dead-letter queue, visibly).
    for plan in plans.values().filter(|p| p.live) {
        let started = plan.orders.iter().any(|(coid, ..)| book.contains_key(coid));
        if !started {
            continue;
        }
        let named = |symbol: &str| {
            failures_of_execution.iter().any(|failed| {
                failed.failure_reason.contains(symbol)
                    || Value::Object(failed.error_details.clone())
                        .to_string()
                        .contains(symbol)
            })
        };
        for (coid, symbol, side) in &plan.orders {
            let filled = book
                .get(coid)
                .is_some_and(|e| e.order.status == OrderStatus::Filled)
                || not_needed(coid, symbol);
            if !filled && !named(symbol) && !log.dead_lettered.contains(&plan.event_id) {
                fail(
                    "intended_orders_filled_or_named",
                    format!(
                        "{} {symbol} of plan {} is {} and no failure of workflow {id} names it",
                        side.as_str(),
                        plan.plan.plan_id,
                        book.get(coid)
                            .map_or("not placed", |e| e.order.status.as_str())
                    ),
                );
            }
        }
    }

    // A completion means every order filled and the account on the plan's targets.
    for published in log.published.iter().filter(by_execution) {
        let Event::WorkflowCompleted(completed) = &published.event else {
            continue;
        };
        if completed.summary.get("dry_run").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let Some(plan) = completed
            .summary
            .get("plan_id")
            .and_then(Value::as_str)
            .and_then(|p| plans.get(p))
        else {
            continue;
        };
        for (coid, symbol, side) in &plan.orders {
            let done = book
                .get(coid)
                .is_some_and(|e| e.order.status == OrderStatus::Filled)
                || not_needed(coid, symbol);
            if !done {
                fail(
                    "completed_means_filled",
                    format!(
                        "workflow {id} completed, but {} {symbol} of plan {} is {}",
                        side.as_str(),
                        plan.plan.plan_id,
                        book.get(coid)
                            .map_or("not placed", |e| e.order.status.as_str())
                    ),
                );
            }
        }
        // Each trade moved what the plan intended: from an account that matched the plan when
        // it started (the drift check), the account is then on the plan's targets.
        let total = plan.plan.total_portfolio_value;
        let slack = total * (plan.plan.max_drift_tolerance + config.on_target_slack);
        for item in plan
            .plan
            .items
            .iter()
            .filter(|i| i.action != TradeAction::Hold)
        {
            let side = if item.action == TradeAction::Sell {
                OrderSide::Sell
            } else {
                OrderSide::Buy
            };
            let coid = client_order_id(&plan.plan.plan_id, side, &item.symbol);
            let traded = book.get(&coid).map_or(rust_decimal::Decimal::ZERO, |e| {
                e.order.filled_qty * e.order.fill_price.unwrap_or_default()
            });
            // Selling out of a position sells every share, whatever the plan's amount said.
            let intended = item.trade_amount.abs();
            let whole_position = side == OrderSide::Sell && item.target_weight.is_zero();
            if !whole_position
                && !not_needed(&coid, item.symbol.as_str())
                && (traded - intended).abs() > slack
            {
                fail(
                    "completed_means_on_target",
                    format!(
                        "workflow {id} completed, but {} {} traded {} against the plan's {} (slack {})",
                        side.as_str(), item.symbol, traded.round_dp(2), intended, slack.round_dp(2)
                    ),
                );
            }
        }
    }

    // Every failure of execution is a refusal, or names orders the simulation disturbed.
    let mut failures = Vec::new();
    for published in &log.published {
        let Event::WorkflowFailed(failed) = &published.event else {
            continue;
        };
        let check = failed.error_details.get("check").and_then(Value::as_str);
        failures.push(check.unwrap_or(&failed.failure_step).to_owned());
        let transient_words = [
            "retry later",
            "unavailable",
            "rate limit",
            "answer was lost",
        ];
        if published.by == "execution"
            && transient_words
                .iter()
                .any(|w| failed.failure_reason.contains(w))
        {
            fail(
                "transient_faults_never_fail_a_workflow",
                format!(
                    "workflow {id} failed for a transient reason: {}",
                    failed.failure_reason
                ),
            );
        }
        if published.by != "execution" || check.is_some() {
            continue;
        }
        let Some(plan) = failed
            .error_details
            .get("plan_id")
            .and_then(Value::as_str)
            .and_then(|p| plans.get(p))
        else {
            continue;
        };
        let disturbed = plan
            .orders
            .iter()
            .any(|(coid, ..)| world.market.injected(coid).is_some());
        let report = log.published.iter().find_map(|p| match &p.event {
            Event::TradeExecuted(executed)
                if executed
                    .execution_data
                    .get("plan_id")
                    .and_then(Value::as_str)
                    == Some(&plan.plan.plan_id) =>
            {
                executed
                    .execution_data
                    .get("orders")
                    .and_then(Value::as_array)
                    .cloned()
            }
            _ => None,
        });
        for order in report.unwrap_or_default() {
            let status = order
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let coid = order
                .get("client_order_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let symbol = order
                .get("symbol")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let explained = match Explanation::of(status) {
                Explanation::NoneNeeded => true,
                // A buy the cash did not stretch to: explained when the cash was gone indeed
                // (the sells of the plan were disturbed, or the account moved within the
                // plan's tolerance), not when the account still held it.
                Explanation::CashGone => {
                    let left = world.market.cash_at(published.at);
                    let wanted = plan
                        .plan
                        .items
                        .iter()
                        .find(|i| i.symbol.as_str() == symbol)
                        .map_or(rust_decimal::Decimal::ZERO, |i| i.trade_amount.abs());
                    disturbed || left < wanted * rust_decimal::Decimal::new(5, 1)
                }
                Explanation::InjectedFault => world.market.injected(coid).is_some(),
            };
            if !explained {
                fail(
                    "failures_explained",
                    format!(
                        "workflow {id} failed at execution: {symbol} {status} with no fault injected that explains it (cash left {}): {}",
                        world.market.cash_at(published.at).round_dp(2),
                        failed.failure_reason
                    ),
                );
            }
        }
    }

    // Every live signal that reached the portfolio function was planned live (or failed there).
    for published in &log.published {
        let Event::SignalGenerated(signal) = &published.event else {
            continue;
        };
        if !signal.header.provenance().is_live()
            || !log
                .settled
                .contains(&(HandlerName::Portfolio, signal.header.event_id.clone()))
        {
            continue;
        }
        let planned = log.published.iter().any(|p| match &p.event {
            Event::RebalancePlanned(plan) => {
                plan.header.causation_id == signal.header.event_id
                    && plan.header.provenance().is_live()
            }
            Event::WorkflowFailed(failed) => failed.failure_step == "portfolio",
            _ => false,
        });
        if !planned {
            fail(
                "live_signals_planned",
                format!(
                    "signal {} of workflow {id} was handled by the portfolio function but no live plan (or failure) came of it",
                    signal.header.event_id
                ),
            );
        }
    }

    // Every workflow ends, visibly; no event is lost without a trace.
    let entries: Vec<Entry> = at_once(world.ledger.entries(id)).unwrap_or_default();
    let state = summarize(id, &entries).map(|s| s.state);
    let has_start = log
        .published
        .iter()
        .any(|p| matches!(p.event, Event::WorkflowStarted(_)));
    match state {
        Some(state) if state.is_terminal() => {}
        Some(state) if has_start => fail(
            "workflows_end",
            format!("workflow {id} is still {state} at the end"),
        ),
        None if has_start => fail(
            "workflows_end",
            format!("workflow {id} is not in the ledger"),
        ),
        _ => {}
    }
    let visible = matches!(state, Some(WorkflowState::Failed | WorkflowState::TimedOut));
    for published in &log.published {
        let event = &published.event;
        let event_id = event.event_id();
        for &consumer in event.event_type().route().consumers {
            let handled = log.settled.contains(&(consumer, event_id.to_owned()));
            let dead = log.dead_lettered.contains(event_id);
            // The cloud dropped the delivery (an injected fault no function can see): a lost
            // live event shows as the workflow's timeout (`workflows_end` and the outcome
            // invariants hold it to that); what the system itself loses is never in `lost`.
            let dropped_by_the_cloud = log.lost.contains(&(consumer, event_id.to_owned()));
            if !handled && !dead && !visible && !dropped_by_the_cloud {
                fail(
                    "nothing_lost_silently",
                    format!("{} {event_id} never reached {consumer}, no dead letter, and workflow {id} is {state:?}", event.event_type()),
                );
            }
        }
    }

    violations.extend(check_forgeries(world, log));

    if let Some(first) = violations.first_mut() {
        first.trace = trace(log, &book);
        // The forger's events are not the system's (not in the event log): said here.
        for (forgery, _) in world.forger.of_workflow(id) {
            first.trace.push(format!(
                "forger: {} by {} ({}), event {}",
                forgery.plan_id,
                forgery.path.name(),
                forgery.harm,
                forgery.event_id
            ));
        }
    }
    Verdict {
        state: state.map_or_else(|| "unknown".into(), |s| s.as_str().to_owned()),
        failures,
        violations,
    }
}

/// A forged plan, named for a violation: its plan, how it was sent, what it does, its event.
fn forged(forgery: &Forgery) -> String {
    format!(
        "forged plan {} ({}; {}; event {})",
        forgery.plan_id,
        forgery.path.describe(),
        forgery.harm,
        forgery.event_id
    )
}

/// The forger's plans made from this workflow's plan, held to what the system put on the bus
/// and what reached the world's edges (the dead letters naming them, the operator's redrive):
/// no trade or completion caused by one; each one sent to a function left a dead letter there
/// refusing it (or one the operator's redrive refused, or it was lost by the simulated
/// EventBridge, a fault it counts); none was resent by a redrive; the forged dead letter was
/// refused by the redrive (or is still in the queue).
fn check_forgeries(world: &WorldRef, log: &WorkflowLog) -> Vec<Violation> {
    let mut violations = Vec::new();
    for published in &log.published {
        let (cause, plan_id) = match &published.event {
            Event::TradeExecuted(executed) => (
                &executed.header.causation_id,
                executed
                    .execution_data
                    .get("plan_id")
                    .and_then(Value::as_str),
            ),
            Event::WorkflowCompleted(completed) => (
                &completed.header.causation_id,
                completed.summary.get("plan_id").and_then(Value::as_str),
            ),
            // The sweep ends a workflow whose event is in the dead-letter queue: a forged
            // letter naming it does too. No trade, but counted for the report.
            Event::WorkflowFailed(failed) => {
                let named = failed.error_details.get("event_id").and_then(Value::as_str);
                if published.by == "monitor" && named.is_some_and(|id| world.forger.is_forged(id)) {
                    world.forger.failed_a_workflow();
                }
                continue;
            }
            _ => continue,
        };
        if let Some(forgery) = world.forger.forgery_named(Some(cause), plan_id) {
            violations.push(Violation::new(
                "nothing_caused_by_a_forgery",
                format!(
                    "{} {} put on the bus by {} names {} as its cause",
                    published.event.event_type(),
                    published.event.event_id(),
                    published.by,
                    forged(&forgery)
                ),
            ));
        }
    }
    for (forgery, fate) in world.forger.of_workflow(&log.correlation_id) {
        if fate.resent {
            violations.push(Violation::new(
                "forgeries_refused_visibly",
                format!(
                    "{} was resent onto the bus by the operator's redrive",
                    forged(&forgery)
                ),
            ));
        }
        for &function in forgery.targets {
            // Refused by the function, or — when it never got to judge (the rule's dead
            // letter, Lambda's retries over) — by the operator's redrive of its letter.
            let lettered = fate.letters.iter().any(|letter| {
                crate::forger::origin_is(&letter.origin, function)
                    && (letter.refused || fate.redrive_refused.is_some())
            });
            let lost = log.lost.contains(&(function, forgery.event_id.clone()));
            if !lettered && !lost {
                violations.push(Violation::new(
                    "forgeries_refused_visibly",
                    format!(
                        "{} was sent to {function}, which left no dead letter refusing it",
                        forged(&forgery)
                    ),
                ));
            }
        }
        if forgery.path == Path::DeadLetter && fate.redrive_refused.is_none() && !fate.resent {
            let queued = forgery
                .message_id
                .as_ref()
                .is_some_and(|id| world.dead_letters.letter(id).is_some());
            if !queued {
                violations.push(Violation::new(
                    "forgeries_refused_visibly",
                    format!(
                        "{} left the dead-letter queue, neither refused nor resent by a redrive",
                        forged(&forgery)
                    ),
                ));
            }
        }
    }
    violations
}

/// A workflow's story in a few lines: each event put on the bus (when, by whom, what it said),
/// each order sent (and what was being handled), each order as the broker has it.
fn trace(log: &WorkflowLog, book: &BTreeMap<String, BookEntry>) -> Vec<String> {
    let mut lines = Vec::new();
    for published in &log.published {
        let event = &published.event;
        let what = match event {
            Event::RebalancePlanned(p) => format!(
                "plan {} ({} items, tolerance {})",
                p.rebalance_plan.plan_id,
                p.rebalance_plan.items.len(),
                p.rebalance_plan.max_drift_tolerance
            ),
            Event::TradeExecuted(t) => format!(
                "placed {}, filled {}: {}",
                t.orders_placed,
                t.orders_succeeded,
                t.execution_data
                    .get("orders")
                    .map(|o| o.to_string())
                    .unwrap_or_default()
            ),
            Event::WorkflowFailed(f) => format!("{}: {}", f.failure_step, f.failure_reason),
            Event::WorkflowCompleted(c) => {
                format!("completed: {}", Value::Object(c.summary.clone()))
            }
            _ => String::new(),
        };
        let replay = event
            .header()
            .provenance()
            .replay_name
            .map(|r| format!(" [replay {r}]"))
            .unwrap_or_default();
        lines.push(format!(
            "{} {} by {}{replay}: {what}",
            published.at,
            event.event_type(),
            published.by
        ));
    }
    for sent in &log.sent {
        lines.push(format!(
            "{} order sent: {} {} {} while handling {:?}",
            sent.at,
            sent.side.as_str(),
            sent.symbol,
            sent.client_order_id,
            sent.during
        ));
    }
    for (coid, entry) in book {
        lines.push(format!(
            "broker: {coid} {} {} of {} at {:?}, taken {:?}, final {:?}",
            entry.order.status.as_str(),
            entry.order.filled_qty,
            entry.order.qty,
            entry.order.fill_price,
            entry.order.submitted_at,
            entry.finished_at
        ));
    }
    lines
}

/// How long after an operator's halt an order may still be placed: the switch's cache, plus the
/// broker calls between reading it and the order reaching the broker.
const HALT_TAKES_EFFECT: TimeDelta = TimeDelta::seconds(35);

/// The stage's limits and its halt, read from the broker's order log (the system's orders: a
/// person's replacement is not the system's to limit): no order worth more than the order
/// limit, no buy outside the allow-list, no trading day with more orders or more bought than its
/// limits, no buy of a plan whose sells failed beyond the threshold, no order while halted.
fn check_limits(world: &WorldRef, book: &[BookEntry]) -> Vec<Violation> {
    let limits = &world.config().stage_limits;
    let mut violations = Vec::new();
    let mut fail = |invariant: &'static str, detail: String| {
        violations.push(Violation::new(invariant, detail));
    };
    let halts = world.halts();
    let halted_throughout = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let before = halts.iter().rev().find(|(at, _)| *at <= from);
        before.is_some_and(|(_, halted)| *halted)
            && !halts
                .iter()
                .any(|(at, halted)| *at > from && *at <= to && !halted)
    };
    let mut days: BTreeMap<chrono::NaiveDate, (u32, Decimal)> = BTreeMap::new();
    // plan → (unfilled sells, buys placed)
    let mut plans: BTreeMap<String, (Decimal, Vec<String>)> = BTreeMap::new();
    for entry in book {
        let order = &entry.order;
        let Some(plan) = world.plan_of(&order.client_order_id) else {
            continue;
        };
        let price = crate::market::price_of(order.symbol.as_str()).unwrap_or_default();
        let notional = order.qty * price;
        let taken = order.submitted_at.unwrap_or_default();
        let coid = &order.client_order_id;
        if notional > limits.max_order_notional {
            fail(
                "orders_within_the_order_limit",
                format!(
                    "{coid} is worth {} ({} {} at {price}), over MAX_ORDER_NOTIONAL {}",
                    notional.round_dp(2),
                    order.qty,
                    order.symbol,
                    limits.max_order_notional
                ),
            );
        }
        if order.side == OrderSide::Buy && !limits.may_buy(&order.symbol) {
            fail(
                "buys_on_the_allow_list",
                format!("{coid} buys {}, outside BUY_ALLOW_LIST", order.symbol),
            );
        }
        if halted_throughout(taken - HALT_TAKES_EFFECT, taken) {
            fail(
                "nothing_placed_while_halted",
                format!(
                    "{coid} was taken at {taken}, while the stage was halted since over {}s before",
                    HALT_TAKES_EFFECT.num_seconds()
                ),
            );
        }
        let day = days
            .entry(alchemiser_trading::new_york_date(taken))
            .or_default();
        day.0 += 1;
        let filled = order.filled_qty * order.fill_price.unwrap_or_default();
        let sides = plans.entry(plan.plan_id).or_default();
        match order.side {
            OrderSide::Buy => {
                day.1 += filled;
                sides.1.push(coid.clone());
            }
            OrderSide::Sell if order.status.is_final() && order.status != OrderStatus::Filled => {
                sides.0 += (order.qty - order.filled_qty) * price;
            }
            OrderSide::Sell => {}
        }
    }
    for (date, (orders, bought)) in days {
        if orders > limits.max_daily_orders {
            fail(
                "daily_orders_within_the_limit",
                format!(
                    "{orders} orders on {date}, over MAX_DAILY_ORDERS {}",
                    limits.max_daily_orders
                ),
            );
        }
        if bought > limits.max_daily_buy_notional {
            fail(
                "daily_buys_within_the_limit",
                format!(
                    "{} bought on {date}, over MAX_DAILY_BUY_NOTIONAL {}",
                    bought.round_dp(2),
                    limits.max_daily_buy_notional
                ),
            );
        }
    }
    for (plan, (failed, buys)) in plans {
        if failed > limits.max_failed_sell_notional && !buys.is_empty() {
            fail(
                "failed_sells_block_the_buys",
                format!(
                    "plan {plan}'s sells failed for {} (over MAX_FAILED_SELL_NOTIONAL {}), yet it bought: {}",
                    failed.round_dp(2),
                    limits.max_failed_sell_notional,
                    buys.join(", ")
                ),
            );
        }
    }
    violations
}

/// The checks across workflows, at the end of a run: orders of two plans never working at
/// once, each start starting one workflow, no permanent failure the simulation did not cause,
/// no order left open.
pub fn check_run(world: &WorldRef) -> Vec<Violation> {
    let mut violations = Vec::new();
    let book = at_once(world.market.broker.book()).unwrap_or_default();
    // Orders by when they were taken; an order of another plan taken while one is still open
    // means two plans worked the account at once.
    let mut open: BTreeSet<(DateTime<Utc>, String, String)> = BTreeSet::new();
    let mut entries: Vec<(DateTime<Utc>, DateTime<Utc>, String, String)> = Vec::new();
    for entry in &book {
        let coid = entry.order.client_order_id.clone();
        let plan = world
            .plan_of(&coid)
            .map(|p| p.plan_id)
            .unwrap_or_else(|| format!("unknown:{coid}"));
        let taken = entry.order.submitted_at.unwrap_or_default();
        match entry.finished_at {
            Some(done) => entries.push((taken, done, plan, coid)),
            None => violations.push(Violation {
                invariant: "no_order_left_open",
                detail: format!(
                    "{coid} of plan {plan} is still {} at the end",
                    entry.order.status.as_str()
                ),
                trace: Vec::new(),
            }),
        }
    }
    entries.sort();
    for (taken, done, plan, coid) in entries {
        while open.first().is_some_and(|(end, ..)| *end <= taken) {
            open.pop_first();
        }
        if let Some((end, other_plan, other)) = open.iter().find(|(_, p, _)| *p != plan) {
            violations.push(Violation {
                invariant: "one_plan_at_a_time",
                detail: format!(
                    "{coid} of plan {plan} was taken at {taken} while {other} of plan {other_plan} was open until {end}"
                ),
                trace: Vec::new(),
            });
        }
        open.insert((done, plan, coid));
    }
    for (trigger, workflows) in world.triggers() {
        if workflows.len() > 1 {
            violations.push(Violation {
                invariant: "one_workflow_per_start",
                detail: format!(
                    "the start {trigger} started {} workflows: {workflows:?}",
                    workflows.len()
                ),
                trace: Vec::new(),
            });
        }
    }
    violations.extend(check_limits(world, &book));
    // No order of a forged plan at the broker: its order log against the forger's plans.
    for entry in &book {
        let order = &entry.order;
        if let Some(forgery) = world.forger.forgery_of_order(&order.client_order_id) {
            violations.push(Violation::new(
                "no_order_for_a_forged_plan",
                format!(
                    "{} {} {} ({}, {}) of {} reached the broker",
                    order.side.as_str(),
                    order.qty,
                    order.symbol,
                    order.client_order_id,
                    order.status.as_str(),
                    forged(&forgery)
                ),
            ));
        }
    }
    for refusal in world.forger.genuine_refused() {
        violations.push(Violation::new("genuine_events_never_refused", refusal));
    }
    for reason in world.permanent() {
        violations.push(Violation {
            invariant: "transient_faults_never_fail_a_workflow",
            detail: format!("recorded as a permanent failure, but the simulation injects no permanent fault at the function level: {reason}"),
            trace: Vec::new(),
        });
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_plans_sell_of_what_the_account_no_longer_held_needs_no_fault_to_explain_it() {
        // Seen at seed 20261206 (100,000 workflows): a person sold the position before the
        // plan's sell, which placed nothing; a canceled buy of the same plan failed the
        // workflow, and the sell was counted as an unexplained failure.
        assert_eq!(Explanation::of("NOT_NEEDED"), Explanation::NoneNeeded);
        assert_eq!(Explanation::of("FILLED"), Explanation::NoneNeeded);
        assert_eq!(Explanation::of("DRY_RUN"), Explanation::NoneNeeded);
        assert_eq!(Explanation::of("SKIPPED"), Explanation::CashGone);
        for failed in [
            "CANCELED", "EXPIRED", "REJECTED", "REPLACED", "FAILED", "PENDING",
        ] {
            assert_eq!(
                Explanation::of(failed),
                Explanation::InjectedFault,
                "{failed}"
            );
        }
        // A status the report model does not know is never explained away.
        assert_eq!(Explanation::of("LOST"), Explanation::InjectedFault);
    }
}
