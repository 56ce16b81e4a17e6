//! One workflow, as a person reads it: when each function acted and how long it took, what
//! caused what, the signal's target weights, the plan, the orders with their fills and slippage,
//! the failure, the dead letters with the commands that resend them, the shadows' results.
//!
//! [`WorkflowView`] is what `alchemiser workflows show --json` prints and the workflow page
//! shows: its `summary` and `entries` (in causal order) are the record itself, the rest is read
//! from them.

use std::collections::{BTreeMap, HashMap, HashSet};

use alchemiser_events::text::shell_word;
use alchemiser_events::{Decimal, EventType};
use alchemiser_ledger::model::{ShadowEntry, TimeoutEntry};
use alchemiser_ledger::shadow::Comparison;
use alchemiser_ledger::store::query::{dead_letters_in, DeadLetterRecord};
use alchemiser_ledger::trades::{orders_of, OrderRow};
use alchemiser_ledger::{compare, in_causal_order, Entry, EventEntry, Summary};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// Everything the ledger knows of one workflow, and what follows from it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowView {
    /// Its summary: state, start, end, failure.
    pub summary: Summary,
    /// Every entry, in causal order (each event after its cause).
    pub entries: Vec<Entry>,
    /// One step per live or replayed event: the function that produced it, when, and how long
    /// after its cause.
    pub timeline: Vec<TimelineStep>,
    /// The events as a causation tree, drawn one row per event.
    pub causation: Vec<CausationRow>,
    /// The signal's target weights, when the ledger kept its SignalGenerated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<SignalView>,
    /// The plan, when the ledger kept its RebalancePlanned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanView>,
    /// Every order the trade reports hold.
    pub orders: Vec<OrderView>,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureView>,
    /// Its dead letters, with the commands to inspect and resend them.
    pub dead_letters: Vec<DeadLetterView>,
    /// The sweep's timeout, if it timed out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<TimeoutEntry>,
    /// What consumers in shadow mode would have emitted, beside the live owner's result.
    pub shadows: Vec<ShadowView>,
}

/// One event on the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineStep {
    /// The function (or Python module) that produced it.
    pub function: String,
    /// The event's type.
    pub event_type: EventType,
    /// The event's id.
    pub event_id: String,
    /// Milliseconds from the workflow's start to its cause (to itself, for the first event).
    pub from_ms: i64,
    /// Milliseconds from the workflow's start to the event.
    pub at_ms: i64,
    /// Milliseconds from its cause to it: the time the function took, delivery included.
    pub duration_ms: i64,
    /// The archive replay it derives from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

/// One row of the causation tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CausationRow {
    /// How deep under a root it is (0 = a root).
    pub depth: usize,
    /// The tree drawn before it (`├─ `, `│  └─ `, ...).
    pub prefix: String,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: EventType,
    /// Its cause's id, as the event names it.
    pub causation_id: String,
    /// Who published it: its EventBridge source, or the module it names.
    pub producer: String,
    /// The function the routing table sends it to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled_by: Option<String>,
    /// Milliseconds from the workflow's start.
    pub at_ms: i64,
    /// What it says happened, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// A failure's or refusal's `error_details.check`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// The archive replay it derives from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

/// The signal: target weights and where they came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalView {
    /// The SignalGenerated's id.
    pub event_id: String,
    /// Symbol → target weight (0..1), as the signal gives them.
    pub target_weights: Vec<Weight>,
    /// The strategies that made it.
    pub strategies: Vec<String>,
}

/// A symbol's weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Weight {
    /// The symbol.
    pub symbol: String,
    /// The weight (0..1).
    pub weight: Decimal,
}

/// The plan: each symbol's current and target weight and value, and the trade between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanView {
    /// The RebalancePlanned's id.
    pub event_id: String,
    /// The plan's id.
    pub plan_id: String,
    /// Its items.
    pub items: Vec<PlanItemView>,
    /// The account's value it was made from.
    pub total_portfolio_value: Option<Decimal>,
    /// Σ |trade amount|.
    pub total_trade_value: Option<Decimal>,
}

/// One item of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanItemView {
    /// The symbol.
    pub symbol: String,
    /// BUY, SELL or HOLD.
    pub action: String,
    /// Its weight now.
    pub current_weight: Option<Decimal>,
    /// Its target weight.
    pub target_weight: Option<Decimal>,
    /// Its value now.
    pub current_value: Option<Decimal>,
    /// Its target value.
    pub target_value: Option<Decimal>,
    /// Dollars to trade (negative: sell).
    pub trade_amount: Option<Decimal>,
}

/// An order with what a person asks of it: what filled, at what price against the price it was
/// sized at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderView {
    /// The order as the trade report gives it.
    #[serde(flatten)]
    pub order: OrderRow,
    /// Filled quantity × fill price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filled_value: Option<Decimal>,
    /// How much worse than its price it filled, in basis points (see [`OrderRow::slippage_bps`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slippage_bps: Option<Decimal>,
    /// Its lifecycle, step by step: planned, sized, placed, where it ended, what filled.
    pub lifecycle: Vec<String>,
}

impl OrderView {
    /// The view of `order`, whose plan item (if known) asked for `planned` dollars.
    pub fn of(order: OrderRow, planned: Option<Decimal>) -> Self {
        let mut lifecycle = Vec::new();
        if let Some(amount) = planned {
            lifecycle.push(format!("planned {amount}"));
        }
        match (order.qty, order.price, order.notional) {
            (Some(qty), Some(price), _) => lifecycle.push(format!("sized {} @ {}", qty, price)),
            (_, _, Some(notional)) => lifecycle.push(format!("ordered ${notional}")),
            (Some(qty), None, None) => lifecycle.push(format!("ordered {}", qty)),
            _ => {}
        }
        if order.dry_run {
            lifecycle.push("not sent (dry run)".into());
        } else if let Some(id) = &order.order_id {
            lifecycle.push(format!("placed as {id}"));
        }
        lifecycle.push(match &order.broker_status {
            Some(broker) => format!("{} (broker: {broker})", order.status),
            None => order.status.clone(),
        });
        if let Some(qty) = order.filled_qty.filter(|q| !q.is_zero()) {
            lifecycle.push(match order.fill_price {
                Some(price) => format!("filled {} @ {}", qty, price),
                None => format!("filled {}", qty),
            });
        }
        Self {
            filled_value: order.filled_value(),
            slippage_bps: order.slippage_bps(),
            lifecycle,
            order,
        }
    }
}

/// Why the workflow failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureView {
    /// The step.
    pub step: String,
    /// The reason, as the event gave it.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The check that refused it, when a check did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

/// Where a dead letter stands, as far as the ledger knows (the queue itself is not read: a
/// look at a message counts as one of its receives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterStatus {
    /// In the queue: nothing since says otherwise.
    Waiting,
    /// A person deleted it (`alchemiser dlq delete`).
    Deleted,
    /// Its workflow completed after it: redriven, or recovered otherwise.
    Settled,
}

impl LetterStatus {
    /// Its name, as the JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            LetterStatus::Waiting => "waiting",
            LetterStatus::Deleted => "deleted",
            LetterStatus::Settled => "settled",
        }
    }
}

/// A dead letter and what a person runs about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterView {
    /// The letter, and its deletion if a person deleted it.
    #[serde(flatten)]
    pub record: DeadLetterRecord,
    /// Where it stands.
    pub status: LetterStatus,
    /// The command that shows it.
    pub inspect_command: String,
    /// The command that resends it.
    pub redrive_command: String,
}

impl DeadLetterView {
    /// The view of `record`, whose workflow is `workflow`; commands for `stage` (`None`: a local
    /// ledger, whose letters came from a stage it cannot know).
    pub fn of(record: DeadLetterRecord, workflow: Option<&Summary>, stage: Option<&str>) -> Self {
        let id = shell_word(&record.letter.message_id);
        let stage = stage.map_or_else(|| "STAGE".to_owned(), |s| shell_word(s).into_owned());
        let status = if record.deleted.is_some() {
            LetterStatus::Deleted
        } else if workflow.is_some_and(|w| {
            w.state == alchemiser_ledger::WorkflowState::Completed
                && w.ended_at.is_some_and(|end| end >= record.at())
        }) {
            LetterStatus::Settled
        } else {
            LetterStatus::Waiting
        };
        Self {
            inspect_command: format!("alchemiser dlq show {id} --stage {stage}"),
            redrive_command: format!("alchemiser dlq redrive {id} --stage {stage}"),
            status,
            record,
        }
    }
}

/// A shadow consumer's result beside the live owner's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowView {
    /// What the shadow recorded.
    pub entry: ShadowEntry,
    /// How it compares with the live event, when it is compared (plans and trades).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

fn detail_of(event: &EventEntry) -> Option<&Value> {
    event.detail.as_ref()
}

fn decimal(value: Option<&Value>) -> Option<Decimal> {
    let text = match value? {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return None,
    };
    text.parse()
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
}

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

fn millis(delta: chrono::TimeDelta) -> i64 {
    delta.num_milliseconds()
}

impl WorkflowView {
    /// The view of a workflow from its summary and entries; dead-letter commands for `stage`.
    pub fn of(summary: Summary, entries: &[Entry], stage: Option<&str>) -> Self {
        let entries = in_causal_order(entries);
        let events: Vec<&EventEntry> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Event(event) => Some(event),
                _ => None,
            })
            .collect();
        let start = summary.started_at;
        let by_id: HashMap<&str, &EventEntry> =
            events.iter().map(|e| (e.event_id.as_str(), *e)).collect();
        let timeline = events
            .iter()
            .map(|event| {
                let at = event.time.0;
                let from = by_id
                    .get(event.causation_id.as_str())
                    .filter(|cause| cause.event_id != event.event_id)
                    .map_or(at, |cause| cause.time.0);
                TimelineStep {
                    function: event.producer.clone(),
                    event_type: event.event_type,
                    event_id: event.event_id.clone(),
                    from_ms: millis(from - start),
                    at_ms: millis(at - start),
                    duration_ms: millis(at - from),
                    replay: event.replay.clone(),
                }
            })
            .collect();
        let plan = Self::plan(&events);
        let planned: HashMap<String, Decimal> = plan
            .iter()
            .flat_map(|p| &p.items)
            .filter_map(|item| Some((item.symbol.clone(), item.trade_amount?)))
            .collect();
        let orders = events
            .iter()
            .flat_map(|event| orders_of(&summary.correlation_id, event))
            .map(|order| {
                let amount = planned.get(&order.symbol).copied();
                OrderView::of(order, amount)
            })
            .collect();
        let failure = summary.failure.as_ref().map(|failure| FailureView {
            step: failure.step.clone(),
            reason: failure.reason.clone(),
            at: failure.at,
            check: events
                .iter()
                .rev()
                .find(|e| e.event_type == EventType::WorkflowFailed)
                .and_then(|e| detail_of(e)?.pointer("/error_details/check"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
        let dead_letters = dead_letters_in(&summary.correlation_id, &entries)
            .into_iter()
            .map(|record| DeadLetterView::of(record, Some(&summary), stage))
            .collect();
        let timeout = entries.iter().find_map(|e| match e {
            Entry::TimedOut(t) => Some(t.clone()),
            _ => None,
        });
        let mut comparisons = compare(&summary.correlation_id, &entries);
        let shadows = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Shadow(s) => Some(s.clone()),
                _ => None,
            })
            .map(|entry| {
                let index = comparisons.iter().position(|c| c.handler == entry.handler);
                ShadowView {
                    comparison: index.map(|i| comparisons.remove(i)),
                    entry,
                }
            })
            .collect();
        Self {
            causation: causation(&events, start),
            signal: Self::signal(&events),
            timeline,
            plan,
            orders,
            failure,
            dead_letters,
            timeout,
            shadows,
            entries,
            summary,
        }
    }

    fn signal(events: &[&EventEntry]) -> Option<SignalView> {
        let event = events
            .iter()
            .rev()
            .find(|e| e.event_type == EventType::SignalGenerated && e.replay.is_none())?;
        let portfolio = detail_of(event)?.get("consolidated_portfolio")?;
        let target_weights = portfolio
            .get("target_allocations")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(symbol, weight)| {
                Some(Weight {
                    symbol: symbol.to_uppercase(),
                    weight: decimal(Some(weight))?,
                })
            })
            .collect();
        let strategies = portfolio
            .get("source_strategies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| text(Some(s)))
            .collect();
        Some(SignalView {
            event_id: event.event_id.clone(),
            target_weights,
            strategies,
        })
    }

    fn plan(events: &[&EventEntry]) -> Option<PlanView> {
        let event = events
            .iter()
            .rev()
            .find(|e| e.event_type == EventType::RebalancePlanned && e.replay.is_none())?;
        let plan = detail_of(event)?.get("rebalance_plan")?;
        let items = plan
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|item| PlanItemView {
                symbol: text(item.get("symbol")).unwrap_or_default().to_uppercase(),
                action: text(item.get("action")).unwrap_or_default(),
                current_weight: decimal(item.get("current_weight")),
                target_weight: decimal(item.get("target_weight")),
                current_value: decimal(item.get("current_value")),
                target_value: decimal(item.get("target_value")),
                trade_amount: decimal(item.get("trade_amount")),
            })
            .collect();
        Some(PlanView {
            event_id: event.event_id.clone(),
            plan_id: text(plan.get("plan_id")).unwrap_or_default(),
            items,
            total_portfolio_value: decimal(plan.get("total_portfolio_value")),
            total_trade_value: decimal(plan.get("total_trade_value")),
        })
    }
}

/// The causation tree, one row per event, each under its cause (when the ledger has it),
/// siblings by time; drawn without recursion (a forged chain may be long) and each event once
/// (a forged chain may loop).
fn causation(events: &[&EventEntry], start: DateTime<Utc>) -> Vec<CausationRow> {
    let index: HashMap<&str, usize> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.event_id.as_str(), i))
        .collect();
    let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut roots = Vec::new();
    for (i, event) in events.iter().enumerate() {
        match index.get(event.causation_id.as_str()) {
            Some(&cause) if cause != i => children.entry(cause).or_default().push(i),
            _ => roots.push(i),
        }
    }
    let time = |i: &usize| (events[*i].time, events[*i].event_id.clone());
    roots.sort_by_cached_key(time);
    for siblings in children.values_mut() {
        siblings.sort_by_cached_key(time);
    }
    // A forged cycle has no root: its first event (by time) is drawn as one.
    let mut rows = Vec::new();
    let mut drawn: HashSet<usize> = HashSet::new();
    let mut pending_roots: Vec<usize> = roots;
    let mut all: Vec<usize> = (0..events.len()).collect();
    all.sort_by_cached_key(time);
    pending_roots.extend(all);
    for root in pending_roots {
        // (node, depth, prefix for its children, own connector)
        let mut stack = vec![(root, 0usize, String::new(), String::new())];
        while let Some((node, depth, below, connector)) = stack.pop() {
            if !drawn.insert(node) {
                continue;
            }
            let event = events[node];
            rows.push(CausationRow {
                depth,
                prefix: connector,
                event_id: event.event_id.clone(),
                event_type: event.event_type,
                causation_id: event.causation_id.clone(),
                producer: event
                    .source
                    .clone()
                    .unwrap_or_else(|| event.producer.clone()),
                handled_by: event.handled_by.clone(),
                at_ms: millis(event.time.0 - start),
                outcome: event.outcome.clone(),
                check: (event.event_type == EventType::WorkflowFailed)
                    .then(|| detail_of(event)?.pointer("/error_details/check"))
                    .flatten()
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                replay: event.replay.clone(),
            });
            let kids: Vec<usize> = children
                .get(&node)
                .into_iter()
                .flatten()
                .copied()
                .filter(|k| !drawn.contains(k))
                .collect();
            // Pushed last first, so the first child is drawn first.
            for (i, &kid) in kids.iter().enumerate().rev() {
                let last = i + 1 == kids.len();
                let connector = format!("{below}{}", if last { "└─ " } else { "├─ " });
                let under = format!("{below}{}", if last { "   " } else { "│  " });
                stack.push((kid, depth + 1, under, connector));
            }
        }
    }
    rows
}
