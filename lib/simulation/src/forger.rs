//! A forger: someone who can reach the functions, the bus and the dead-letter queue but holds no
//! producer's key (only the strategy's, as a compromised strategy would) and wants a plan of its
//! own traded. Once a workflow has a genuine plan, the forger takes it, makes it harmful (all in
//! one symbol, its buys doubled, its buys moved to another symbol) under a fresh event id and
//! plan id, and sends it by every path the deployed system has ([`Path`]):
//!
//! - `lambda:InvokeFunction` on execution with a bare detail, and with an envelope written by
//!   hand (Source `alchemiser.portfolio`, another account and region);
//! - PutEvents on the bus as `alchemiser.portfolio`: unsigned, signed with the strategy's key,
//!   and a genuine signed plan altered after it was signed;
//! - a Lambda on-failure record of its own in the dead-letter queue, for the operator's redrive
//!   to resend.
//!
//! The publisher's outbox and `alchemiser outbox drain` are not simulated (a PutEvents the
//! simulation loses fails the invocation, which Lambda retries), so the forger has no outbox
//! path here.
//!
//! The forger keeps what it forged and where it sent it; the world notes what became of those
//! events at its edges — the dead letters naming them, the operator's redrive refusing or
//! resending them. [`crate::invariants`] holds them, from the broker's order log and the bus,
//! to: no order for a forged plan, no trade or completion caused by one, each one refused
//! visibly.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use alchemiser_events::{
    derived_id, AllocationComparison, DeadLetter, Decimal, Event, EventType, HandlerName, PlanItem,
    RebalancePlanned, ReceivedEvent, Symbol, Timestamp, TradeAction,
};
use alchemiser_lambda::signing::{
    Authenticity, LocalKeys, LocalSigner, SigningError, Unsigned, Verdict, Verifier,
};
use alchemiser_trading::{client_order_id, OrderSide};
use async_trait::async_trait;
use serde_json::json;

use crate::market::{BARRED, SYMBOLS};
use crate::world::{at_once, WorldRef};

/// How a forged plan is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Path {
    /// `lambda:InvokeFunction` on execution with a bare detail (no envelope).
    DirectBare,
    /// `lambda:InvokeFunction` on execution with an envelope written by hand: Source
    /// `alchemiser.portfolio`, from another account and region.
    ForeignEnvelope,
    /// PutEvents on the bus as `alchemiser.portfolio`, unsigned.
    PutEventsUnsigned,
    /// PutEvents as `alchemiser.portfolio`, signed with the strategy's key (a compromised
    /// strategy: it signs, but it does not make plans).
    StrategySigned,
    /// A genuine signed plan altered after it was signed, under a new event id, on the bus.
    AlteredAfterSigning,
    /// A Lambda on-failure record of the forger's own in the dead-letter queue, which the
    /// operator's redrive later resends (or refuses).
    DeadLetter,
}

impl Path {
    /// Every path, in the order the forger sends them.
    pub const ALL: [Path; 6] = [
        Path::DirectBare,
        Path::ForeignEnvelope,
        Path::PutEventsUnsigned,
        Path::StrategySigned,
        Path::AlteredAfterSigning,
        Path::DeadLetter,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Path::DirectBare => "direct_invoke_bare",
            Path::ForeignEnvelope => "direct_invoke_foreign_envelope",
            Path::PutEventsUnsigned => "put_events_unsigned",
            Path::StrategySigned => "put_events_signed_by_the_strategy",
            Path::AlteredAfterSigning => "put_events_altered_after_signing",
            Path::DeadLetter => "dead_letter_redriven",
        }
    }

    /// What it is, for a violation's message.
    pub fn describe(self) -> &'static str {
        match self {
            Path::DirectBare => "a direct invoke of execution with a bare detail",
            Path::ForeignEnvelope => {
                "a direct invoke of execution with an envelope from account 999999999999 in mars-1"
            }
            Path::PutEventsUnsigned => "PutEvents as alchemiser.portfolio, unsigned",
            Path::StrategySigned => {
                "PutEvents as alchemiser.portfolio, signed with the strategy's key"
            }
            Path::AlteredAfterSigning => {
                "PutEvents of a genuine signed plan altered after signing, under a new event id"
            }
            Path::DeadLetter => "a forged Lambda on-failure record in the dead-letter queue",
        }
    }
}

/// One forged plan: what it is, and where it was sent.
#[derive(Debug, Clone)]
pub struct Forgery {
    /// How it was sent.
    pub path: Path,
    /// The workflow whose genuine plan it was made from (and which it names).
    pub correlation_id: String,
    /// Its event id (fresh).
    pub event_id: String,
    /// Its plan id (fresh).
    pub plan_id: String,
    /// What it does to the account.
    pub harm: String,
    /// The client order ids of its BUY and SELL items: what the broker must never see.
    pub orders: Vec<String>,
    /// The functions it was delivered to (none for a dead letter: the operator's redrive is
    /// what it must get past).
    pub targets: &'static [HandlerName],
    /// The forged dead letter's message id (the dead-letter path).
    pub message_id: Option<String>,
}

/// A dead letter naming a forged event.
#[derive(Debug, Clone)]
pub struct Letter {
    /// Who gave up on it: a function's name or ARN, or a rule's ARN.
    pub origin: String,
    /// Refused by a function for who made it (a failure record of class `refused`).
    pub refused: bool,
    /// Why it is in the queue.
    pub reason: String,
}

/// What became of a forged event at the world's edges.
#[derive(Debug, Clone, Default)]
pub struct Fate {
    /// The dead letters naming it that reached the queue.
    pub letters: Vec<Letter>,
    /// Why the operator's redrive refused to resend a letter of it, if it did.
    pub redrive_refused: Option<String>,
    /// The operator's redrive put it on the bus.
    pub resent: bool,
}

#[derive(Default)]
struct State {
    /// Workflows the dice were rolled for (one roll per workflow).
    rolled: std::collections::HashSet<String>,
    forged: Vec<Forgery>,
    fates: Vec<Fate>,
    by_event: HashMap<String, usize>,
    by_order: HashMap<String, usize>,
    by_plan: HashMap<String, usize>,
    by_workflow: HashMap<String, Vec<usize>>,
    /// Genuine events refused for who made them: (by whom, why).
    genuine_refused: Vec<String>,
    /// Genuine workflows the sweep failed for a forged dead letter naming them.
    failed_by_forged_letters: u64,
}

/// The forger, and what became of its forgeries.
#[derive(Default)]
pub struct Forger {
    state: Mutex<State>,
}

impl Forger {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the forger goes after the workflow of this genuine live plan: decided once per
    /// workflow, with probability `p`.
    pub(crate) fn goes_after(
        &self,
        correlation_id: &str,
        dice: &crate::dice::Dice,
        p: f64,
    ) -> bool {
        if p <= 0.0 {
            return false;
        }
        let mut state = self.lock();
        if state.rolled.contains(correlation_id) {
            return false;
        }
        state.rolled.insert(correlation_id.to_owned());
        dice.chance(p)
    }

    fn record(&self, forgery: Forgery) {
        let mut state = self.lock();
        let n = state.forged.len();
        state.by_event.insert(forgery.event_id.clone(), n);
        state.by_plan.insert(forgery.plan_id.clone(), n);
        for coid in &forgery.orders {
            state.by_order.insert(coid.clone(), n);
        }
        state
            .by_workflow
            .entry(forgery.correlation_id.clone())
            .or_default()
            .push(n);
        state.forged.push(forgery);
        state.fates.push(Fate::default());
    }

    /// Whether `event_id` is a forged event's.
    pub fn is_forged(&self, event_id: &str) -> bool {
        self.lock().by_event.contains_key(event_id)
    }

    /// The forgery whose plan has the order `client_order_id`.
    pub fn forgery_of_order(&self, client_order_id: &str) -> Option<Forgery> {
        let state = self.lock();
        let n = *state.by_order.get(client_order_id)?;
        state.forged.get(n).cloned()
    }

    /// The forgery of event `event_id` or plan `plan_id`.
    pub fn forgery_named(&self, event_id: Option<&str>, plan_id: Option<&str>) -> Option<Forgery> {
        let state = self.lock();
        let n = event_id
            .and_then(|id| state.by_event.get(id))
            .or_else(|| plan_id.and_then(|id| state.by_plan.get(id)))?;
        state.forged.get(*n).cloned()
    }

    /// Every forgery, with its fate.
    pub fn all(&self) -> Vec<(Forgery, Fate)> {
        let state = self.lock();
        state
            .forged
            .iter()
            .cloned()
            .zip(state.fates.iter().cloned())
            .collect()
    }

    /// The forgeries made from a workflow's plan, with their fates.
    pub fn of_workflow(&self, correlation_id: &str) -> Vec<(Forgery, Fate)> {
        let state = self.lock();
        state
            .by_workflow
            .get(correlation_id)
            .into_iter()
            .flatten()
            .filter_map(|n| Some((state.forged.get(*n)?.clone(), state.fates.get(*n)?.clone())))
            .collect()
    }

    /// A dead letter reached the queue: noted when it names a forged event.
    pub(crate) fn letter_queued(&self, letter: &DeadLetter) {
        let mut state = self.lock();
        let Some(n) = letter
            .event_id
            .as_deref()
            .and_then(|id| state.by_event.get(id))
            .copied()
        else {
            return;
        };
        // The forged dead letter itself, being queued, is the forger's doing, not a refusal.
        if state
            .forged
            .get(n)
            .is_some_and(|f| f.path == Path::DeadLetter && f.message_id.is_none())
        {
            return;
        }
        if let Some(fate) = state.fates.get_mut(n) {
            fate.letters.push(Letter {
                origin: letter.origin.clone().unwrap_or_default(),
                refused: letter.is_refused(),
                reason: letter.reason.clone(),
            });
        }
    }

    /// The forged dead letter of `event_id` is message `message_id`.
    fn queued_as(&self, event_id: &str, message_id: String) {
        let mut state = self.lock();
        if let Some(n) = state.by_event.get(event_id).copied() {
            if let Some(forgery) = state.forged.get_mut(n) {
                forgery.message_id = Some(message_id);
            }
        }
    }

    /// A function refused an event for who made it (a refused failure record): `false` when the
    /// event is no forgery — a genuine event refused, which is noted for the invariants.
    pub(crate) fn refused(&self, event_id: Option<&str>, by: &str, reason: &str) -> bool {
        let mut state = self.lock();
        if event_id.is_some_and(|id| state.by_event.contains_key(id)) {
            return true;
        }
        state.genuine_refused.push(format!(
            "{by} refused event {}: {reason}",
            event_id.unwrap_or("?")
        ));
        false
    }

    /// The operator's redrive judged a letter: refused (`resent` false) or put on the bus.
    pub(crate) fn redriven(&self, letter: &DeadLetter, resent: bool, why: &str) {
        let mut state = self.lock();
        let n = letter
            .event_id
            .as_deref()
            .and_then(|id| state.by_event.get(id))
            .copied();
        match n {
            Some(n) => {
                if let Some(fate) = state.fates.get_mut(n) {
                    if resent {
                        fate.resent = true;
                    } else {
                        fate.redrive_refused = Some(why.to_owned());
                    }
                }
            }
            None if !resent => state.genuine_refused.push(format!(
                "the operator's redrive refused letter {} (event {}): {why}",
                letter.message_id,
                letter.event_id.as_deref().unwrap_or("?")
            )),
            None => {}
        }
    }

    /// The sweep failed a genuine workflow for a forged dead letter naming it (not a trade, but
    /// what a forger can do with the queue: reported).
    pub(crate) fn failed_a_workflow(&self) {
        self.lock().failed_by_forged_letters += 1;
    }

    /// Genuine events refused for who made them (by a function or the operator's redrive).
    pub fn genuine_refused(&self) -> Vec<String> {
        self.lock().genuine_refused.clone()
    }

    /// What the forger did and what stopped it, for the report: forgeries by path (each
    /// [`Path::name`]), `workflows_forged`, the dead letters naming them (`refused_dead_letters`
    /// of the functions, `other_dead_letters` of the rules and Lambda), the forgeries the
    /// operator's redrive refused (`refused_by_the_redrive`) or resent (`resent_by_the_redrive`),
    /// and the genuine workflows the sweep failed for a forged dead letter naming them
    /// (`workflows_failed_by_a_forged_dead_letter`).
    pub fn summary(&self) -> BTreeMap<String, u64> {
        let state = self.lock();
        let mut summary: BTreeMap<String, u64> = Path::ALL
            .iter()
            .map(|path| (path.name().to_owned(), 0))
            .collect();
        for forgery in &state.forged {
            *summary.entry(forgery.path.name().to_owned()).or_default() += 1;
        }
        let mut refused_letters = 0;
        let mut other_letters = 0;
        let mut redrive_refused = 0;
        let mut resent = 0;
        for fate in &state.fates {
            for letter in &fate.letters {
                if letter.refused {
                    refused_letters += 1;
                } else {
                    other_letters += 1;
                }
            }
            redrive_refused += u64::from(fate.redrive_refused.is_some());
            resent += u64::from(fate.resent);
        }
        summary.insert("workflows_forged".into(), state.by_workflow.len() as u64);
        summary.insert("refused_dead_letters".into(), refused_letters);
        summary.insert("other_dead_letters".into(), other_letters);
        summary.insert("refused_by_the_redrive".into(), redrive_refused);
        summary.insert("resent_by_the_redrive".into(), resent);
        summary.insert(
            "workflows_failed_by_a_forged_dead_letter".into(),
            state.failed_by_forged_letters,
        );
        summary
    }
}

/// Whether a dead letter's origin (a function's name, its ARN, or its rule's ARN) is `function`.
pub fn origin_is(origin: &str, function: HandlerName) -> bool {
    origin == function.as_str() || origin.contains(&format!("alchemiser-{function}-"))
}

/// What the stage's functions and the operator's redrive judge events with: the simulation's
/// keys, no unsigned source (`signatures_checked`), or — only for a test that shows what the
/// checks are worth — any event, unsigned or with any MAC.
pub(crate) fn authenticity(keys: Arc<LocalKeys>, signatures_checked: bool) -> Authenticity {
    if signatures_checked {
        return Authenticity::local(keys, Unsigned::FromSources(Default::default()));
    }
    Authenticity {
        signer: None,
        local: Some(keys),
        verifier: Arc::new(AnyMac),
        unsigned: Unsigned::Accepted,
    }
}

/// A verifier that takes every MAC (the stage without signature checks a test sets up).
struct AnyMac;

#[async_trait]
impl Verifier for AnyMac {
    async fn verify(
        &self,
        _: &str,
        _: &str,
        _: &[u8; 32],
        _: &[u8],
    ) -> Result<Verdict, SigningError> {
        Ok(Verdict::Valid)
    }
}

/// What the operator's redrive makes of one letter, as `alchemiser dlq redrive` judges it
/// (lib/operations `dlq::queue::judge`): a letter a function refused stays refused; otherwise
/// its event is judged as the stage's functions judge it, before anything is sent.
pub(crate) enum Judged {
    /// Its event, which the stage's functions would accept.
    Redrivable(Box<ReceivedEvent>),
    /// Refused, and why.
    Refused(String),
    /// Its event cannot be read (or could not be verified now): not resent (the real
    /// redrive's report says why; the simulation has no one to read it).
    Failed,
}

/// Judges `letter` for the operator's redrive.
pub(crate) fn judge(letter: &DeadLetter, authenticity: &Authenticity) -> Judged {
    if letter.is_refused() {
        return Judged::Refused(format!(
            "{} (a redrive would be refused again)",
            letter.reason
        ));
    }
    let received = match letter.original_event() {
        Ok(received) => received,
        Err(_) => return Judged::Failed,
    };
    match at_once(authenticity.check_received(&received)) {
        Ok(Ok(_)) => Judged::Redrivable(Box::new(received)),
        Ok(Err(refused)) => Judged::Refused(format!(
            "the stage's functions would refuse its {} for who made it: {refused}",
            received.event.event_type()
        )),
        Err(_) => Judged::Failed,
    }
}

/// What a forged plan does to the account.
enum Harm {
    /// Sell everything, buy one symbol with it all.
    AllIn(Symbol),
    /// Every buy twice as large.
    Doubled,
    /// The buys go to another symbol than the strategy's.
    MovedTo(Symbol),
}

impl Harm {
    fn draw(world: &WorldRef, genuine: &RebalancePlanned) -> Harm {
        // Only symbols the stage may buy: a barred one is the limits' to stop, and the forger
        // wants what would pass them.
        let allowed: Vec<Symbol> = SYMBOLS
            .iter()
            .filter(|(symbol, _)| *symbol != BARRED)
            .filter_map(|(symbol, _)| Symbol::parse(symbol).ok())
            .collect();
        let pick = |from: &[Symbol]| -> Option<Symbol> {
            (!from.is_empty())
                .then(|| from[world.dice().between(0..=(from.len() as u64 - 1)) as usize].clone())
        };
        let items = &genuine.rebalance_plan.items;
        let buys: Vec<&Symbol> = items
            .iter()
            .filter(|i| i.action == TradeAction::Buy)
            .map(|i| &i.symbol)
            .collect();
        let elsewhere: Vec<Symbol> = allowed
            .iter()
            .filter(|s| !buys.contains(s))
            .cloned()
            .collect();
        let fallback = || pick(&allowed).map_or(Harm::Doubled, Harm::AllIn);
        match world.dice().between(0..=2) {
            0 => fallback(),
            1 if !buys.is_empty() => Harm::Doubled,
            2 if !buys.is_empty() => pick(&elsewhere).map_or_else(fallback, Harm::MovedTo),
            _ => fallback(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Harm::AllIn(symbol) => format!("everything sold, all in {symbol}"),
            Harm::Doubled => "every buy doubled".into(),
            Harm::MovedTo(symbol) => format!("the buys moved to {symbol}"),
        }
    }
}

/// `genuine` made harmful: its items changed by `harm`, consistent with themselves (a plan the
/// contract accepts), the account as the genuine plan saw it (so the drift check passes).
fn harmful(genuine: &RebalancePlanned, harm: &Harm) -> RebalancePlanned {
    let plan = &genuine.rebalance_plan;
    let total = plan.total_portfolio_value;
    // symbol → (current value, current weight, target value)
    let mut rows: BTreeMap<Symbol, (Decimal, Decimal, Decimal)> = plan
        .items
        .iter()
        .map(|i| {
            (
                i.symbol.clone(),
                (i.current_value, i.current_weight, i.target_value),
            )
        })
        .collect();
    match harm {
        Harm::AllIn(symbol) => {
            for row in rows.values_mut() {
                row.2 = Decimal::ZERO;
            }
            rows.entry(symbol.clone())
                .or_insert((Decimal::ZERO, Decimal::ZERO, Decimal::ZERO))
                .2 = total;
        }
        Harm::Doubled => {
            for row in rows.values_mut().filter(|row| row.2 > row.0) {
                row.2 = row.2.saturating_add(row.2 - row.0);
            }
        }
        Harm::MovedTo(symbol) => {
            let mut moved = Decimal::ZERO;
            for row in rows.values_mut().filter(|row| row.2 > row.0) {
                moved = moved.saturating_add(row.2 - row.0);
                row.2 = row.0;
            }
            let row =
                rows.entry(symbol.clone())
                    .or_insert((Decimal::ZERO, Decimal::ZERO, Decimal::ZERO));
            row.2 = row.2.saturating_add(moved);
        }
    }
    let weight = |value: Decimal| {
        value
            .checked_div(total)
            .unwrap_or_default()
            .clamp(Decimal::ZERO, Decimal::ONE)
            .round_dp(4)
    };
    let mut items: Vec<PlanItem> = rows
        .into_iter()
        .map(|(symbol, (current_value, current_weight, target_value))| {
            let trade_amount = target_value - current_value;
            let action = if trade_amount > Decimal::ZERO {
                TradeAction::Buy
            } else if trade_amount < Decimal::ZERO {
                TradeAction::Sell
            } else {
                TradeAction::Hold
            };
            let target_weight = weight(target_value);
            PlanItem {
                symbol,
                current_weight,
                target_weight,
                weight_diff: target_weight - current_weight,
                target_value,
                current_value,
                trade_amount,
                action,
                priority: 5,
            }
        })
        .collect();
    // SELLs first, then BUYs, then HOLDs; the largest trades first, priority 1 to 5.
    items.sort_by(|a, b| (a.action, b.trade_amount.abs()).cmp(&(b.action, a.trade_amount.abs())));
    for (rank, item) in items.iter_mut().enumerate() {
        item.priority = u8::try_from(rank + 1).unwrap_or(5).min(5);
    }
    let traded = items.iter().filter(|i| i.action != TradeAction::Hold);
    let total_trade_value = traded.clone().fold(Decimal::ZERO, |sum, i| {
        sum.saturating_add(i.trade_amount.abs())
    });
    let trades_required = traded.count() > 0;
    let mut comparison = AllocationComparison::default();
    for item in &items {
        comparison
            .target_values
            .insert(item.symbol.clone(), item.target_value);
        comparison
            .current_values
            .insert(item.symbol.clone(), item.current_value);
        comparison
            .deltas
            .insert(item.symbol.clone(), item.trade_amount);
    }
    let mut forged = genuine.clone();
    forged.rebalance_plan.items = items;
    forged.rebalance_plan.total_trade_value = total_trade_value;
    forged.allocation_comparison = comparison;
    forged.trades_required = trades_required;
    forged
}

/// The client order ids of a plan's BUY and SELL items.
fn orders_of(planned: &RebalancePlanned) -> Vec<String> {
    let plan = &planned.rebalance_plan;
    plan.items
        .iter()
        .filter_map(|item| {
            let side = match item.action {
                TradeAction::Buy => OrderSide::Buy,
                TradeAction::Sell => OrderSide::Sell,
                TradeAction::Hold => return None,
            };
            Some(client_order_id(&plan.plan_id, side, &item.symbol))
        })
        .collect()
}

/// The consumers of a plan on the bus.
fn plan_consumers() -> &'static [HandlerName] {
    EventType::RebalancePlanned.route().consumers
}

/// The forger goes after the workflow of `genuine` (a live plan just put on the bus): one
/// forged plan by each path.
pub(crate) fn forge(world: &WorldRef, genuine: &RebalancePlanned) {
    let correlation_id = genuine.header.correlation_id.clone();
    for path in Path::ALL {
        let harm = Harm::draw(world, genuine);
        let mut planned = harmful(genuine, &harm);
        // Fresh ids, as a forger would mint them: a plan id of the planner's shape, an event
        // id of the contract's, neither ever seen before.
        let n = world.dice().between(0..=u64::MAX).to_string();
        planned.header.event_id = format!(
            "{}-{}",
            EventType::RebalancePlanned.id_prefix(),
            derived_id(&["forger", "event", &n])
        );
        planned.rebalance_plan.plan_id = format!("plan-{}", derived_id(&["forger", "plan", &n]));
        match path {
            // Carried over from the genuine plan: a signature that no longer holds.
            Path::AlteredAfterSigning => {}
            Path::StrategySigned => {
                let strategy = LocalSigner::new(world.keys(), HandlerName::Strategy.as_str());
                let mut event = Event::from(planned.clone());
                if at_once(alchemiser_lambda::signing::sign(&strategy, &mut event)).is_ok() {
                    if let Event::RebalancePlanned(signed) = event {
                        planned = signed;
                    }
                }
            }
            _ => planned.header.remove_signature(),
        }
        let event_id = planned.header.event_id.clone();
        let forgery = Forgery {
            path,
            correlation_id: correlation_id.clone(),
            event_id: event_id.clone(),
            plan_id: planned.rebalance_plan.plan_id.clone(),
            harm: harm.describe(),
            orders: orders_of(&planned),
            targets: match path {
                Path::DirectBare | Path::ForeignEnvelope => &[HandlerName::Execution],
                Path::DeadLetter => &[],
                _ => plan_consumers(),
            },
            message_id: None,
        };
        let detail = Event::from(planned.clone()).to_value();
        let envelope = |account: &str, region: &str| {
            json!({
                "version": "0",
                "id": format!("forged-{n}"),
                "detail-type": EventType::RebalancePlanned.as_str(),
                "source": "alchemiser.portfolio",
                "account": account,
                "time": Timestamp(world.now()).to_wire(),
                "region": region,
                "resources": [],
                "detail": detail.clone(),
            })
        };
        match path {
            Path::DirectBare | Path::ForeignEnvelope => {
                let payload = if path == Path::DirectBare {
                    detail.clone()
                } else {
                    envelope("999999999999", "mars-1")
                };
                world.forger.record(forgery);
                world.invoke_directly(HandlerName::Execution, payload, &event_id, &correlation_id);
            }
            Path::PutEventsUnsigned | Path::StrategySigned | Path::AlteredAfterSigning => {
                world.forger.record(forgery);
                world.put_event("forger", planned.into(), None);
            }
            Path::DeadLetter => {
                // The shape Lambda's on-failure destination writes, as if execution had given
                // up on the plan: what `alchemiser dlq redrive` resends.
                let body = json!({
                    "version": "1.0",
                    "timestamp": Timestamp(world.now()).to_wire(),
                    "requestContext": {
                        "requestId": format!("forged-{n}"),
                        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:alchemiser-execution-sim:$LATEST",
                        "condition": "RetriesExhausted",
                        "approximateInvokeCount": 3
                    },
                    "requestPayload": envelope("123456789012", "us-east-1"),
                    "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                    "responsePayload": {"errorType": "Alchemiser.Transient", "errorMessage": "transient failure, will be retried: broker unavailable"}
                });
                world.forger.record(forgery);
                let message_id = world.forged_dead_letter(&correlation_id, body.to_string());
                world.forger.queued_as(&event_id, message_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genuine() -> RebalancePlanned {
        let sample = alchemiser_events::samples::sample_event(EventType::RebalancePlanned);
        match sample {
            Event::RebalancePlanned(planned) => planned,
            other => panic!("a sample plan: {other:?}"),
        }
    }

    #[test]
    fn forged_plans_are_plans_the_contract_accepts() {
        let genuine = genuine();
        for harm in [
            Harm::AllIn("QQQ".parse().unwrap()),
            Harm::Doubled,
            Harm::MovedTo("GLD".parse().unwrap()),
        ] {
            let forged = harmful(&genuine, &harm);
            let value = Event::from(forged.clone()).to_value();
            let decoded = alchemiser_events::decode_value(value);
            assert!(decoded.is_ok(), "{}: {decoded:?}", harm.describe());
            assert!(forged.trades_required, "{}", harm.describe());
            assert_ne!(forged.rebalance_plan.items, genuine.rebalance_plan.items);
        }
    }

    /// Each path is stopped by the check meant for it, and says so in its dead letter: run a
    /// small world where the forger goes after every workflow.
    #[test]
    fn each_path_is_refused_by_its_own_check() {
        let start = chrono::DateTime::parse_from_rfc3339("2026-01-05T14:35:00Z")
            .unwrap()
            .to_utc();
        let mut config = crate::Config::new(60, 3);
        config.forgery = 1.0;
        let report = crate::simulate(config.clone(), start);
        assert!(report.passed(), "{report}");
        let world = WorldRef::new(config.clone(), start);
        world.plan_run(start);
        let mut executor = crate::scheduler::Executor::new(
            WorldRef::time_of(&world),
            config.seed.rotate_left(17),
            config.crash,
        );
        world.run(&mut executor);
        let all = world.forger.all();
        assert!(!all.is_empty());
        for (forgery, fate) in all {
            let expected = match forgery.path {
                Path::DirectBare => "came without an envelope (a direct invoke)",
                Path::ForeignEnvelope => "the envelope says account `999999999999` in `mars-1`",
                Path::PutEventsUnsigned => "unsigned and came from `alchemiser.portfolio`",
                Path::StrategySigned => "signed by `strategy`, which does not produce",
                Path::AlteredAfterSigning => "signature by `portfolio` does not hold",
                Path::DeadLetter => {
                    "would refuse its RebalancePlanned for who made it: the event is unsigned"
                }
            };
            let reasons: Vec<&str> = fate
                .letters
                .iter()
                .filter(|l| l.refused)
                .map(|l| l.reason.as_str())
                .chain(fate.redrive_refused.as_deref())
                .collect();
            assert!(!reasons.is_empty(), "{forgery:?}: {fate:?}");
            // A delivery the rule dead-lettered is judged by the redrive only: by the
            // signature's check, whatever the path.
            assert!(
                reasons.iter().any(|r| r.contains(expected)),
                "{:?}: {reasons:?}",
                forgery.path
            );
            assert!(!fate.resent, "{forgery:?}");
        }
    }

    #[test]
    fn all_in_sells_everything_else_and_buys_the_whole_account() {
        let genuine = genuine();
        let total = genuine.rebalance_plan.total_portfolio_value;
        let forged = harmful(&genuine, &Harm::AllIn("QQQ".parse().unwrap()));
        for item in &forged.rebalance_plan.items {
            assert_eq!(
                item.target_value,
                if item.symbol.as_str() == "QQQ" {
                    total
                } else {
                    Decimal::ZERO
                }
            );
        }
    }
}
