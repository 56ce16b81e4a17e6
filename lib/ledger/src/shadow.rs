//! Shadow mode: a Rust consumer runs beside the live (Python) owner of its step on the same
//! events, publishes nothing, and records what it would have emitted in the ledger
//! ([`ShadowRecorder`], the bus a shadow gets). [`compare`] pairs each shadow result with the
//! live event of the same workflow and step and lists the differences — the evidence for
//! switching a consumer's owner.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use alchemiser_bus::{error_chain, EventBus, PublishReport, Undelivered};
use alchemiser_clock::Clock;
use alchemiser_events::{
    decode_value, Decimal, Event, EventType, HandlerName, RebalancePlanned, TradeExecuted,
};
use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::model::{Entry, EventEntry, ShadowEntry};
use crate::store::LedgerStore;

/// The bus of a consumer in shadow mode: what it emits is recorded in the ledger as one
/// [`ShadowEntry`] per workflow, never published.
pub struct ShadowRecorder {
    store: Arc<dyn LedgerStore>,
    handler: HandlerName,
    clock: Arc<dyn Clock>,
}

impl ShadowRecorder {
    /// Records what `handler` would have emitted in `store`.
    pub fn new(store: Arc<dyn LedgerStore>, handler: HandlerName) -> Self {
        Self {
            store,
            handler,
            clock: alchemiser_clock::system(),
        }
    }

    /// Entries are timed by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

#[async_trait]
impl EventBus for ShadowRecorder {
    /// One publish is one invocation's output: per workflow, its cause is the event the first
    /// emitted event not caused by another emitted one names as its cause.
    async fn publish(&self, events: Vec<Event>) -> PublishReport {
        let mut by_workflow: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for event in events {
            by_workflow
                .entry(event.header().correlation_id.clone())
                .or_default()
                .push(event);
        }
        let mut report = PublishReport::default();
        for (correlation_id, events) in by_workflow {
            let ids: HashSet<&str> = events.iter().map(Event::event_id).collect();
            let cause = events
                .iter()
                .map(|e| e.header().causation_id.as_str())
                .find(|cause| !ids.contains(cause))
                .unwrap_or(correlation_id.as_str())
                .to_owned();
            let entry = Entry::Shadow(ShadowEntry {
                handler: self.handler.to_string(),
                cause_event_id: cause,
                recorded_at: self.clock.now(),
                events: events.iter().map(Event::to_value).collect(),
                omitted: None,
            });
            match self.store.record(&correlation_id, &entry).await {
                Ok(_) => report
                    .delivered
                    .extend(events.iter().map(|e| e.event_id().to_owned())),
                Err(error) => {
                    let reason = format!("shadow result not recorded: {}", error_chain(&error));
                    report
                        .undelivered
                        .extend(events.iter().map(|e| Undelivered {
                            event_id: e.event_id().to_owned(),
                            event_type: e.event_type(),
                            code: Some("LedgerUnavailable".into()),
                            reason: reason.clone(),
                            kept_in: None,
                        }));
                }
            }
        }
        report
    }
}

/// How a shadow result compares with the live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Item for item the same.
    Match,
    /// Something differs (see the differences).
    Mismatch,
    /// The live owner published nothing to compare with (yet).
    NoLiveResult,
    /// The shadow emitted nothing comparable (it failed, or refused the event).
    NoShadowResult,
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What differs, e.g. `SPY.trade_amount` or `total_trade_value`.
    pub field: String,
    /// The shadow's value (`-` when it has none).
    pub shadow: String,
    /// The live value (`-` when it has none).
    pub live: String,
}

/// One shadow result against the live one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// The workflow.
    pub correlation_id: String,
    /// The shadow consumer.
    pub handler: String,
    /// The event type compared.
    pub event_type: EventType,
    /// The verdict.
    pub verdict: Verdict,
    /// What differs (empty on a match).
    pub differences: Vec<Difference>,
    /// The live event compared with, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_event_id: Option<String>,
}

/// Counts over comparisons.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    /// Shadow results looked at.
    pub compared: usize,
    /// Matches.
    pub matches: usize,
    /// Mismatches.
    pub mismatches: usize,
    /// Without a live result.
    pub no_live_result: usize,
    /// Without a comparable shadow result.
    pub no_shadow_result: usize,
}

impl DiffSummary {
    /// The counts of `comparisons`.
    pub fn of(comparisons: &[Comparison]) -> Self {
        let count = |verdict| comparisons.iter().filter(|c| c.verdict == verdict).count();
        Self {
            compared: comparisons.len(),
            matches: count(Verdict::Match),
            mismatches: count(Verdict::Mismatch),
            no_live_result: count(Verdict::NoLiveResult),
            no_shadow_result: count(Verdict::NoShadowResult),
        }
    }
}

/// What each shadowable consumer is compared on: the event it emits for the step.
fn compared_type(handler: &str) -> Option<EventType> {
    match handler {
        "portfolio" => Some(EventType::RebalancePlanned),
        "execution" => Some(EventType::TradeExecuted),
        _ => None,
    }
}

/// How far apart the values of trades may be before they count as different: the shadow sizes
/// its orders a moment later than the live owner, at another price. Plans are compared exactly
/// (same signal, same account: the same plan).
pub const TRADE_VALUE_TOLERANCE: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

/// Compares every shadow result among one workflow's entries with the live event of the same
/// type from another producer (the live owner), replays left out.
pub fn compare(correlation_id: &str, entries: &[Entry]) -> Vec<Comparison> {
    let live: Vec<&EventEntry> = entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Event(event) if event.replay.is_none() => Some(event),
            _ => None,
        })
        .collect();
    let mut comparisons = Vec::new();
    for entry in entries {
        let Entry::Shadow(shadow) = entry else {
            continue;
        };
        let Some(event_type) = compared_type(&shadow.handler) else {
            continue;
        };
        let shadow_event = shadow
            .events
            .iter()
            .filter_map(|value| decode_value(value.clone()).ok())
            .map(|received| received.event)
            .find(|event| event.event_type() == event_type);
        let live_event = live
            .iter()
            .filter(|e| e.event_type == event_type && e.producer != shadow.handler)
            .filter_map(|e| {
                let detail = e.detail.clone()?;
                Some((e.event_id.clone(), decode_value(detail).ok()?.event))
            })
            .next();
        let (verdict, differences, live_event_id) = match (shadow_event, live_event) {
            (None, _) => (Verdict::NoShadowResult, Vec::new(), None),
            (Some(_), None) => (Verdict::NoLiveResult, Vec::new(), None),
            (Some(shadow), Some((id, live))) => {
                let differences = differences(&shadow, &live);
                let verdict = if differences.is_empty() {
                    Verdict::Match
                } else {
                    Verdict::Mismatch
                };
                (verdict, differences, Some(id))
            }
        };
        comparisons.push(Comparison {
            correlation_id: correlation_id.to_owned(),
            handler: shadow.handler.clone(),
            event_type,
            verdict,
            differences,
            live_event_id,
        });
    }
    comparisons
}

fn differences(shadow: &Event, live: &Event) -> Vec<Difference> {
    match (shadow, live) {
        (Event::RebalancePlanned(shadow), Event::RebalancePlanned(live)) => plans(shadow, live),
        (Event::TradeExecuted(shadow), Event::TradeExecuted(live)) => trades(shadow, live),
        _ => Vec::new(),
    }
}

struct Differences(Vec<Difference>);

impl Differences {
    fn check(&mut self, field: impl Into<String>, shadow: Option<String>, live: Option<String>) {
        if shadow != live {
            self.0.push(Difference {
                field: field.into(),
                shadow: shadow.unwrap_or_else(|| "-".into()),
                live: live.unwrap_or_else(|| "-".into()),
            });
        }
    }

    /// Decimals compare by value (`1.50` = `1.5`), printed as the producer wrote them.
    fn amount(&mut self, field: impl Into<String>, shadow: Option<Decimal>, live: Option<Decimal>) {
        let same = match (shadow, live) {
            (Some(a), Some(b)) => a == b,
            (a, b) => a.is_none() && b.is_none(),
        };
        if !same {
            self.check(
                field,
                shadow.map(|d| d.to_string()),
                live.map(|d| d.to_string()),
            );
        }
    }

    fn within(&mut self, field: &str, shadow: Decimal, live: Decimal, tolerance: Decimal) {
        let scale = shadow.abs().max(live.abs());
        let apart = (shadow - live).abs();
        if scale > Decimal::ZERO && apart > scale * tolerance {
            self.0.push(Difference {
                field: format!("{field} (beyond {}%)", tolerance * Decimal::ONE_HUNDRED),
                shadow: shadow.to_string(),
                live: live.to_string(),
            });
        }
    }
}

fn plans(shadow: &RebalancePlanned, live: &RebalancePlanned) -> Vec<Difference> {
    let mut found = Differences(Vec::new());
    let (s, l) = (&shadow.rebalance_plan, &live.rebalance_plan);
    found.amount(
        "total_portfolio_value",
        Some(s.total_portfolio_value),
        Some(l.total_portfolio_value),
    );
    found.amount(
        "total_trade_value",
        Some(s.total_trade_value),
        Some(l.total_trade_value),
    );
    found.check(
        "trades_required",
        Some(shadow.trades_required.to_string()),
        Some(live.trades_required.to_string()),
    );
    let items = |plan: &alchemiser_events::RebalancePlan| {
        plan.items
            .iter()
            .map(|item| (item.symbol.to_string(), item.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let (shadow_items, live_items) = (items(s), items(l));
    let symbols: BTreeSet<&String> = shadow_items.keys().chain(live_items.keys()).collect();
    for symbol in symbols {
        let (a, b) = (shadow_items.get(symbol), live_items.get(symbol));
        found.check(
            format!("{symbol}.action"),
            a.map(|i| i.action.as_str().to_owned()),
            b.map(|i| i.action.as_str().to_owned()),
        );
        found.amount(
            format!("{symbol}.trade_amount"),
            a.map(|i| i.trade_amount),
            b.map(|i| i.trade_amount),
        );
        found.amount(
            format!("{symbol}.target_value"),
            a.map(|i| i.target_value),
            b.map(|i| i.target_value),
        );
        found.check(
            format!("{symbol}.priority"),
            a.map(|i| i.priority.to_string()),
            b.map(|i| i.priority.to_string()),
        );
    }
    found.0
}

/// The orders of a TradeExecuted by symbol → side, from `execution_data.orders`: the Rust
/// records write `side` (`buy`/`sell`), the Python ones `action` (`BUY`/`SELL`).
fn order_sides(executed: &TradeExecuted) -> BTreeMap<String, String> {
    executed
        .execution_data
        .get("orders")
        .and_then(Value::as_array)
        .map(|orders| {
            orders
                .iter()
                .filter(|order| {
                    // A Rust order skipped for nothing to trade is no order.
                    order.get("status").and_then(Value::as_str) != Some("SKIPPED")
                })
                .filter_map(|order| {
                    let symbol = order.get("symbol")?.as_str()?.to_owned();
                    let side = order
                        .get("side")
                        .or_else(|| order.get("action"))?
                        .as_str()?
                        .to_ascii_lowercase();
                    Some((symbol, side))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn trade_value(executed: &TradeExecuted) -> Option<Decimal> {
    match executed.execution_data.get("total_trade_value")? {
        Value::String(text) => text.parse().ok(),
        Value::Number(number) => number.to_string().parse().ok(),
        _ => None,
    }
}

fn trades(shadow: &TradeExecuted, live: &TradeExecuted) -> Vec<Difference> {
    let mut found = Differences(Vec::new());
    found.check(
        "success",
        Some(shadow.success.to_string()),
        Some(live.success.to_string()),
    );
    let (shadow_orders, live_orders) = (order_sides(shadow), order_sides(live));
    found.check(
        "orders",
        Some(shadow_orders.len().to_string()),
        Some(live_orders.len().to_string()),
    );
    let symbols: BTreeSet<&String> = shadow_orders.keys().chain(live_orders.keys()).collect();
    for symbol in symbols {
        found.check(
            format!("{symbol}.side"),
            shadow_orders.get(symbol).cloned(),
            live_orders.get(symbol).cloned(),
        );
    }
    if let (Some(a), Some(b)) = (trade_value(shadow), trade_value(live)) {
        found.within("total_trade_value", a, b, TRADE_VALUE_TOLERANCE);
    }
    found.0
}
