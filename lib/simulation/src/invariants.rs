//! What must hold after any run, whatever the dice did: the order invariants of
//! `DESIGN.md` (no order nobody intended, none missed silently) and that every workflow ends
//! visibly.

use std::collections::{BTreeMap, BTreeSet};

use alchemiser_events::{Event, TradeAction};
use alchemiser_ledger::{summarize, Entry, LedgerStore, WorkflowState};
use alchemiser_trading::{client_order_id, OrderSide};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::world::{Kind, World};

/// One broken invariant, with the case that breaks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The invariant's name.
    pub invariant: &'static str,
    /// The case.
    pub detail: String,
}

struct Plan {
    plan_id: String,
    event_id: String,
    correlation_id: String,
    planned_at: DateTime<Utc>,
    workflow_started_at: DateTime<Utc>,
    live: bool,
}

/// Checks every invariant over what the run left behind.
pub async fn check(world: &World) -> Vec<Violation> {
    let shared = world.snapshot();
    let config = &shared.config;
    let mut violations = Vec::new();
    let mut fail = |invariant: &'static str, detail: String| {
        violations.push(Violation { invariant, detail });
    };

    // The plans the portfolio function published, by the client order id of each of their
    // orders (the id derives from the plan, the side and the symbol).
    let mut workflow_starts: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    for published in &shared.published {
        if let Event::WorkflowStarted(started) = &published.event {
            workflow_starts
                .entry(started.header.correlation_id.clone())
                .or_insert(started.header.timestamp.0);
        }
    }
    let mut plans: BTreeMap<String, Plan> = BTreeMap::new();
    for published in &shared.published {
        let Event::RebalancePlanned(planned) = &published.event else {
            continue;
        };
        let plan = &planned.rebalance_plan;
        for item in &plan.items {
            let side = match item.action {
                TradeAction::Buy => OrderSide::Buy,
                TradeAction::Sell => OrderSide::Sell,
                TradeAction::Hold => continue,
            };
            let correlation_id = planned.header.correlation_id.clone();
            plans
                .entry(client_order_id(&plan.plan_id, side, &item.symbol))
                .or_insert(Plan {
                    plan_id: plan.plan_id.clone(),
                    event_id: planned.header.event_id.clone(),
                    workflow_started_at: workflow_starts
                        .get(&correlation_id)
                        .copied()
                        .unwrap_or(plan.timestamp.0),
                    correlation_id,
                    planned_at: plan.timestamp.0,
                    live: planned.header.provenance().is_live(),
                });
        }
    }

    // 1. An order reaches the broker once: a retry finds the one placed before.
    let mut sends: BTreeMap<&str, usize> = BTreeMap::new();
    for sent in &shared.sent {
        *sends.entry(sent.client_order_id.as_str()).or_default() += 1;
    }
    for (id, count) in &sends {
        if *count > 1 {
            fail(
                "one_send_per_order",
                format!("client order id {id} reached the broker {count} times"),
            );
        }
    }

    // 2–3. Every order belongs to a live plan, placed while handling a live delivery, while the
    // plan was fresh and its workflow within its deadline.
    let skew = TimeDelta::from_std(config.clock_skew * 2).unwrap_or_default();
    let max_plan_age = TimeDelta::from_std(config.max_plan_age).unwrap_or_default() + skew;
    let deadline = TimeDelta::from_std(config.workflow_deadline).unwrap_or_default() + skew;
    let mut executed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for sent in &shared.sent {
        let Some(plan) = plans.get(&sent.client_order_id) else {
            fail(
                "orders_from_live_plans",
                format!(
                    "{} {} ({}) is no published plan's order",
                    sent.side, sent.symbol, sent.client_order_id
                ),
            );
            continue;
        };
        executed
            .entry(plan.correlation_id.clone())
            .or_default()
            .insert(plan.plan_id.clone());
        let replayed = sent
            .during
            .as_ref()
            .is_none_or(|h| h.replayed || h.kind == Kind::Replay);
        if !plan.live || replayed {
            fail(
                "orders_from_live_plans",
                format!(
                    "{} {} of plan {} placed from a replay (plan live: {}, while handling {:?})",
                    sent.side, sent.symbol, plan.plan_id, plan.live, sent.during
                ),
            );
        }
        if sent.at - plan.planned_at > max_plan_age {
            fail(
                "fresh_plans_only",
                format!(
                    "{} {} of plan {} placed {}s after the plan",
                    sent.side,
                    sent.symbol,
                    plan.plan_id,
                    (sent.at - plan.planned_at).num_seconds()
                ),
            );
        }
        if sent.at - plan.workflow_started_at > deadline {
            fail(
                "fresh_plans_only",
                format!(
                    "{} {} of plan {} placed {}s after its workflow started (deadline {}s)",
                    sent.side,
                    sent.symbol,
                    plan.plan_id,
                    (sent.at - plan.workflow_started_at).num_seconds(),
                    config.workflow_deadline.as_secs()
                ),
            );
        }
    }

    // 4. One signal, one executed plan.
    for (workflow, plan_ids) in &executed {
        if plan_ids.len() > 1 {
            fail(
                "one_plan_per_signal",
                format!(
                    "workflow {workflow} traded {} plans: {plan_ids:?}",
                    plan_ids.len()
                ),
            );
        }
    }

    // 5. Transient faults never fail an order or an event for good: the simulation injects
    // no permanent fault, so a failed order or a permanent failure is a misclassified one.
    let mut traded_plans: BTreeSet<String> = BTreeSet::new();
    let mut aged_plans: BTreeSet<String> = BTreeSet::new();
    for published in &shared.published {
        if let Event::WorkflowFailed(failed) = &published.event {
            let check = failed.error_details.get("check").and_then(|v| v.as_str());
            if matches!(check, Some("plan_age" | "workflow_age")) {
                if let Some(plan_id) = failed.error_details.get("plan_id").and_then(|v| v.as_str())
                {
                    aged_plans.insert(plan_id.to_owned());
                }
            }
        }
        if let Event::TradeExecuted(executed) = &published.event {
            if let Some(plan_id) = executed
                .execution_data
                .get("plan_id")
                .and_then(|v| v.as_str())
            {
                if executed.header.provenance().is_live() {
                    traded_plans.insert(plan_id.to_owned());
                }
            }
            let orders = executed
                .execution_data
                .get("orders")
                .and_then(|o| o.as_array())
                .cloned()
                .unwrap_or_default();
            for order in orders {
                if order.get("status").and_then(|s| s.as_str()) == Some("FAILED") {
                    fail(
                        "transient_faults_retried",
                        format!("an order failed for good: {order}"),
                    );
                }
            }
        }
    }
    for reason in &shared.permanent {
        fail("transient_faults_retried", format!("recorded as a permanent failure, but the simulation injects only transient faults: {reason}"));
    }

    // Ledger states, for the rest.
    let mut states: BTreeMap<String, WorkflowState> = BTreeMap::new();
    for correlation_id in workflow_starts.keys() {
        let entries: Vec<Entry> = world
            .ledger
            .entries(correlation_id)
            .await
            .unwrap_or_default();
        if let Some(summary) = summarize(correlation_id, &entries) {
            states.insert(correlation_id.clone(), summary.state);
        }
    }

    // 6. Every workflow ends, visibly: completed, failed or timed out.
    for correlation_id in workflow_starts.keys() {
        match states.get(correlation_id) {
            Some(state) if state.is_terminal() => {}
            Some(state) => fail(
                "workflows_end",
                format!("workflow {correlation_id} is still {state} at the end"),
            ),
            None => fail(
                "workflows_end",
                format!("workflow {correlation_id} is not in the ledger"),
            ),
        }
    }

    // 7. No event is lost silently: each live event reached each of its consumers' handling,
    // or the dead-letter queue, or its workflow ended failed or timed out.
    let visible = |correlation_id: &str| {
        matches!(
            states.get(correlation_id),
            Some(WorkflowState::Failed | WorkflowState::TimedOut)
        )
    };
    for published in &shared.published {
        let event = &published.event;
        let id = event.event_id();
        for &consumer in event.event_type().route().consumers {
            let handled = shared.settled.contains(&(consumer, id.to_owned()));
            let dead = shared.dead_lettered.contains(id);
            if !handled && !dead && !visible(&event.header().correlation_id) {
                fail(
                    "nothing_lost_silently",
                    format!(
                        "{} {id} never reached {consumer}, no dead letter, and workflow {} is {:?}",
                        event.event_type(),
                        event.header().correlation_id,
                        states.get(&event.header().correlation_id)
                    ),
                );
            }
        }
    }

    // 8. Every order placed is reported: a TradeExecuted of its plan, or its workflow visibly
    // failed.
    // 9. A plan a transient fault interrupted after some of its orders is resumed to the end on
    // the retry (never refused half-way, leaving the account half rebalanced) — unless it aged
    // out meanwhile or its retries ran out into the dead-letter queue.
    let mut checked = BTreeSet::new();
    for sent in &shared.sent {
        let Some(plan) = plans.get(&sent.client_order_id) else {
            continue;
        };
        if !checked.insert(plan.plan_id.clone()) {
            continue;
        }
        let traded = traded_plans.contains(&plan.plan_id);
        if !traded && !visible(&plan.correlation_id) {
            fail(
                "orders_reported",
                format!(
                    "{} {} of plan {} placed but never reported",
                    sent.side, sent.symbol, plan.plan_id
                ),
            );
        }
        if !traded
            && !aged_plans.contains(&plan.plan_id)
            && !shared.dead_lettered.contains(&plan.event_id)
        {
            fail("interrupted_plans_resume", format!("plan {} placed orders and then stopped without a TradeExecuted (workflow {} is {:?})", plan.plan_id, plan.correlation_id, states.get(&plan.correlation_id)));
        }
    }
    violations
}
