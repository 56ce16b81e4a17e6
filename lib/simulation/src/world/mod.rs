//! The simulated cloud, and the real functions wired onto it: the strategy (started by the
//! schedule or by hand), the consumer runtime with the portfolio and execution handlers, the
//! monitor with its ledger and sweep — each invocation a task of the [`Executor`], running
//! concurrently with the others.
//!
//! - EventBridge delivers each event to each consuming function after a delay, sometimes twice
//!   (seconds, minutes or a day apart), now and then not at all or only to the rule's
//!   dead-letter queue; during an outage it keeps retrying and delivers late (or gives up into
//!   the dead-letter queue after two hours); it keeps every live event in an archive that a
//!   replay delivers again with a `replay-name`.
//! - Lambda runs each asynchronous invocation; a failed one — an error, a crash at any port
//!   call, a timeout — is retried one and two minutes later, then sent to the dead-letter queue.
//! - The follow-up queue (SQS) delivers follow-ups when due; one whose invocation fails comes
//!   back after the visibility timeout, and goes to the dead-letter queue after five receives.
//! - The market (see [`crate::market`]) keeps the NYSE's sessions and Alpaca's order lifecycle.
//! - Operators redrive dead letters minutes or a day later, judging each as `alchemiser dlq
//!   redrive` does (one the stage would refuse for who made it is not resent), and replay the
//!   archive after outages.
//! - A forger sends forged plans by every path it has ([`crate::forger`]).

mod eventbridge;
mod follow_ups;
mod operators;
mod wiring;

pub use wiring::unwired_consumers;
use wiring::{timeout, Functions};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use alchemiser_bus::{EventHandler, TriggerHandler};
use alchemiser_clock::Clock;
use alchemiser_deadletters::MemoryDeadLetters;
use alchemiser_eventbridge::Entry;
use alchemiser_events::{
    DeadLetter, Decimal, Event, HandlerName, Need, Provenance, Symbol, SymbolMap, Timestamp,
    TradeAction, DEFAULT_SOURCE_PREFIX,
};
use alchemiser_lambda::follow_ups::FollowUp;
use alchemiser_lambda::idempotency::{IdempotencyConfig, InMemoryStore};
use alchemiser_lambda::metrics::Metrics;
use alchemiser_lambda::{
    Adapters, InvocationContext, InvocationError, InvocationOutcome, Invoke, Invoker,
    ScheduleOrEvent, TriggerInvoker,
};
use alchemiser_ledger::{MemoryLedger, Monitor, Sweep};
use alchemiser_trading::{
    client_order_id, CachedHalt, HaltState, MemoryHalt, OrderRequest, OrderSide, PlannerConfig,
    StrategyHandler, Workflow, HALT_CACHE,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use crate::adapters::{
    Gate, SimBroker, SimBus, SimDeadLetterRecorder, SimDeadLetters, SimFollowUps, SimLedger,
    SimStore,
};
use crate::dice::Dice;
use crate::market::{Market, SYMBOLS};
use crate::scheduler::{current_task, Ending, Executor, SimClock, SimTime, Spawn, TaskId};
use crate::Config;

/// How a delivery came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The first delivery of a live event.
    Live,
    /// EventBridge delivering it again.
    Duplicate,
    /// An archive replay.
    Replay,
    /// A redrive from the dead-letter queue.
    Redrive,
    /// Lambda retrying a failed invocation.
    Retry,
    /// A follow-up from the follow-up queue.
    FollowUp,
    /// A start of the strategy (the schedule, or a person).
    Start,
    /// The scheduled sweep.
    Sweep,
    /// A forger's direct invoke ([`crate::forger`]).
    Forged,
}

/// What an invocation is handling (the broker writes it down beside each order).
#[derive(Debug, Clone)]
pub struct Handling {
    /// The function.
    pub function: HandlerName,
    /// The event's id (or the start's trigger).
    pub event_id: String,
    /// How it was delivered.
    pub kind: Kind,
    /// The event is (or derives from) an archive replay.
    pub replayed: bool,
}

/// An event put on the bus.
#[derive(Debug, Clone)]
pub struct Published {
    /// The event.
    pub event: Event,
    /// Who put it there (`operator` for redrives).
    pub by: &'static str,
    /// When (simulation time).
    pub at: DateTime<Utc>,
}

/// One order submission the broker took, and what was being handled when it did.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The order's idempotency key.
    pub client_order_id: String,
    /// The symbol.
    pub symbol: Symbol,
    /// Which way.
    pub side: OrderSide,
    /// When (simulation time).
    pub at: DateTime<Utc>,
    /// What was being handled (`None`: outside any invocation, which nothing should do).
    pub during: Option<Handling>,
}

/// Everything the simulation knows of one workflow until it is checked and forgotten.
#[derive(Debug, Clone)]
pub struct WorkflowLog {
    /// Its correlation id.
    pub correlation_id: String,
    /// When its first event was seen.
    pub first_seen: DateTime<Utc>,
    /// Every live event of it put on the bus, in order.
    pub published: Vec<Published>,
    /// Invocations that ended (handled, duplicate, deferred, recorded as failed):
    /// (function, event id).
    pub settled: BTreeSet<(HandlerName, String)>,
    /// Deliveries lost without trace: (function, event id).
    pub lost: BTreeSet<(HandlerName, String)>,
    /// Events that reached the dead-letter queue (event ids).
    pub dead_lettered: BTreeSet<String>,
    /// Orders sent for its plans.
    pub sent: Vec<Sent>,
}

/// A plan's order, known by its client order id.
#[derive(Debug, Clone)]
pub struct PlanOrder {
    /// The plan's workflow.
    pub correlation_id: String,
    /// The plan.
    pub plan_id: String,
}

struct Delivery {
    function: HandlerName,
    payload: Value,
    event_id: String,
    correlation_id: String,
    attempt: u32,
    kind: Kind,
}

struct Start {
    n: usize,
    allocation: SymbolMap<Decimal>,
    /// What the function receives: the same for a duplicate delivery and the retries.
    payload: Value,
    /// The schedule's execution id, or `None` for a manual start (keyed by its request id).
    tick: Option<String>,
    request_id: String,
    attempt: u32,
}

struct QueuedFollowUp {
    body: Value,
    correlation_id: String,
    receives: u32,
}

enum Action {
    Start(Start),
    Deliver(Delivery),
    FollowUpVisible(u64),
    Sweep(u64),
    Outage,
    Replay {
        n: u64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    Redrive(String),
    Prune(String),
    /// The forger goes after a workflow's genuine plan ([`crate::forger`]).
    Forge(Box<alchemiser_events::RebalancePlanned>),
    /// An operator halts the stage (`alchemiser halt`) ...
    Halt(u64),
    /// ... and resumes it.
    Resume(u64),
}

/// The world's state.
struct State {
    events: BTreeMap<(DateTime<Utc>, u64), Action>,
    sequence: u64,
    messages: u64,
    workflows: HashMap<String, WorkflowLog>,
    plans: HashMap<String, PlanOrder>,
    sends: HashMap<String, u32>,
    handling: HashMap<TaskId, Handling>,
    follow_ups: BTreeMap<u64, QueuedFollowUp>,
    faults: BTreeMap<&'static str, u64>,
    outage_until: Option<DateTime<Utc>>,
    outages: u64,
    triggers: HashMap<String, BTreeSet<String>>,
    redrives: HashMap<String, u32>,
    sweeps: u64,
    permanent: Vec<String>,
    checked: crate::invariants::Checked,
}

/// The simulated cloud.
pub struct WorldInner {
    state: Mutex<State>,
    dice: Dice,
    time: SimTime,
    config: Config,
    /// The broker account every workflow trades in, and its market.
    pub market: Market,
    /// The ledger the monitor keeps.
    pub ledger: Arc<MemoryLedger>,
    /// The dead-letter queue.
    pub dead_letters: Arc<MemoryDeadLetters>,
    stores: Mutex<Vec<Arc<InMemoryStore>>>,
    /// The keys the functions sign with.
    keys: Arc<alchemiser_lambda::signing::LocalKeys>,
    /// How the functions and the operator's redrive judge who made an event.
    authenticity: alchemiser_lambda::signing::Authenticity,
    /// The forger, and what became of its forgeries.
    pub forger: crate::forger::Forger,
    /// Event ids of checked workflows whose idempotency records are still to forget.
    forgotten: Mutex<BTreeSet<String>>,
    functions: OnceLock<Functions>,
    /// The stage's kill switch, as the operator flips it.
    pub halt: Arc<MemoryHalt>,
    /// When it was flipped: (time, halted), in order.
    halts: Mutex<Vec<(DateTime<Utc>, bool)>>,
}

/// A shared handle on the world.
#[derive(Clone)]
pub struct WorldRef(Arc<WorldInner>);

impl std::ops::Deref for WorldRef {
    type Target = WorldInner;
    fn deref(&self) -> &WorldInner {
        &self.0
    }
}

/// SQS's visibility timeout of the follow-up queue (the stack's value).
const FOLLOW_UP_VISIBILITY: Duration = Duration::from_secs(180);
/// Receives of a follow-up before its queue moves it to the dead-letter queue.
const FOLLOW_UP_MAX_RECEIVES: u32 = 5;
/// How long EventBridge keeps retrying a delivery (the stack's maximum event age).
const MAX_EVENT_AGE: TimeDelta = TimeDelta::hours(2);
/// Times an operator redrives the dead letters of one event before giving up on it.
const MAX_REDRIVES: u32 = 3;

impl WorldRef {
    /// A world for `config` starting at `start`.
    pub fn new(config: Config, start: DateTime<Utc>) -> Self {
        let seed = config.seed;
        let dice = Dice::new(seed);
        let time = SimTime::starting_at(start);
        let market = Market::new(&config, dice.clone(), time.clone());
        let keys = alchemiser_lambda::signing::LocalKeys::from_secret(seed.to_le_bytes().to_vec());
        let authenticity = crate::forger::authenticity(keys.clone(), config.signatures_checked);
        let world = WorldRef(Arc::new(WorldInner {
            state: Mutex::new(State {
                events: BTreeMap::new(),
                sequence: 0,
                messages: 0,
                workflows: HashMap::new(),
                plans: HashMap::new(),
                sends: HashMap::new(),
                handling: HashMap::new(),
                follow_ups: BTreeMap::new(),
                faults: BTreeMap::new(),
                outage_until: None,
                outages: 0,
                triggers: HashMap::new(),
                redrives: HashMap::new(),
                sweeps: 0,
                permanent: Vec::new(),
                checked: Default::default(),
            }),
            dice,
            time,
            config,
            market,
            ledger: Arc::new(MemoryLedger::new()),
            dead_letters: Arc::new(MemoryDeadLetters::new()),
            stores: Mutex::new(Vec::new()),
            forgotten: Mutex::new(BTreeSet::new()),
            keys,
            authenticity,
            forger: Default::default(),
            functions: OnceLock::new(),
            halt: Arc::new(MemoryHalt::new()),
            halts: Mutex::new(Vec::new()),
        }));
        let functions = world.wire();
        let _ = world.functions.set(functions);
        world
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Simulation time, for the executor.
    pub fn time_of(world: &WorldRef) -> SimTime {
        world.time.clone()
    }

    /// The dice.
    pub fn dice(&self) -> &Dice {
        &self.dice
    }

    /// The run's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Simulation time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.time.now()
    }

    /// Counts one injected fault of `kind` (when `happened`).
    pub fn count(&self, kind: &'static str, happened: bool) {
        if happened {
            *self.lock().faults.entry(kind).or_default() += 1;
        }
    }

    /// The faults injected so far, by kind.
    pub fn faults(&self) -> BTreeMap<&'static str, u64> {
        self.lock().faults.clone()
    }

    /// Whether a write that took effect answers with an error (counted).
    pub fn uncertain(&self) -> bool {
        let uncertain = self.dice.chance(self.config.uncertain_write);
        self.count("uncertain_write", uncertain);
        uncertain
    }

    /// Whether a PutEvents call is lost (counted).
    pub fn publish_lost(&self) -> bool {
        let lost = self.dice.chance(self.config.publish_failure);
        self.count("publish_failure", lost);
        lost
    }

    fn schedule_at(&self, state: &mut State, at: DateTime<Utc>, action: Action) {
        state.sequence += 1;
        state.events.insert((at, state.sequence), action);
    }

    fn schedule(&self, at: DateTime<Utc>, action: Action) {
        let mut state = self.lock();
        self.schedule_at(&mut state, at, action);
    }

    fn delay(&self) -> TimeDelta {
        let d = self
            .dice
            .duration(Duration::from_millis(20), Duration::from_millis(2500));
        TimeDelta::from_std(d).unwrap_or_default()
    }

    fn log<'a>(&self, state: &'a mut State, correlation_id: &str) -> &'a mut WorkflowLog {
        if !state.workflows.contains_key(correlation_id) {
            let now = self.now();
            state.workflows.insert(
                correlation_id.to_owned(),
                WorkflowLog {
                    correlation_id: correlation_id.to_owned(),
                    first_seen: now,
                    published: Vec::new(),
                    settled: BTreeSet::new(),
                    lost: BTreeSet::new(),
                    dead_lettered: BTreeSet::new(),
                    sent: Vec::new(),
                },
            );
            // Every delivery, duplicate, retry, redrive and replay of a workflow is over
            // within three days: then it is checked and forgotten.
            let horizon = now + TimeDelta::days(3);
            self.schedule_at(state, horizon, Action::Prune(correlation_id.to_owned()));
        }
        state
            .workflows
            .get_mut(correlation_id)
            .expect("just inserted")
    }

    /// A forger's direct invoke of `function` with `payload` (`lambda:InvokeFunction`,
    /// asynchronous: Lambda retries it and gives up into the dead-letter queue as any other).
    pub(crate) fn invoke_directly(
        &self,
        function: HandlerName,
        payload: Value,
        event_id: &str,
        correlation_id: &str,
    ) {
        let at = self.now() + self.delay();
        let delivery = Delivery {
            function,
            payload,
            event_id: event_id.to_owned(),
            correlation_id: correlation_id.to_owned(),
            attempt: 0,
            kind: Kind::Forged,
        };
        self.schedule(at, Action::Deliver(delivery));
    }

    /// A forger's message in the dead-letter queue, naming `correlation_id`; returns its id.
    pub(crate) fn forged_dead_letter(&self, correlation_id: &str, body: String) -> String {
        let mut state = self.lock();
        self.dead_letter(&mut state, correlation_id, body, BTreeMap::new());
        format!("sim-msg-{:08}", state.messages)
    }

    /// The keys the functions sign with (the forger holds the strategy's).
    pub(crate) fn keys(&self) -> Arc<alchemiser_lambda::signing::LocalKeys> {
        self.keys.clone()
    }

    /// The broker took an order submission: written down with what was being handled.
    pub fn order_sent(&self, order: &OrderRequest) {
        let mut state = self.lock();
        let during = current_task().and_then(|task| state.handling.get(&task).cloned());
        *state
            .sends
            .entry(order.client_order_id.clone())
            .or_default() += 1;
        let sent = Sent {
            client_order_id: order.client_order_id.clone(),
            symbol: order.symbol.clone(),
            side: order.side,
            at: self.now(),
            during,
        };
        let correlation_id = state
            .plans
            .get(&order.client_order_id)
            .map(|p| p.correlation_id.clone())
            .unwrap_or_default();
        self.log(&mut state, &correlation_id).sent.push(sent);
    }

    /// The plan an order's client order id belongs to.
    pub fn plan_of(&self, client_order_id: &str) -> Option<PlanOrder> {
        self.lock().plans.get(client_order_id).cloned()
    }

    /// How many times each client order id reached the broker.
    pub fn sends(&self) -> HashMap<String, u32> {
        self.lock().sends.clone()
    }

    /// The workflows each start request started.
    pub fn triggers(&self) -> HashMap<String, BTreeSet<String>> {
        self.lock().triggers.clone()
    }

    /// Why each permanent failure was recorded.
    pub fn permanent(&self) -> Vec<String> {
        self.lock().permanent.clone()
    }

    /// Outages so far.
    pub fn outages(&self) -> u64 {
        self.lock().outages
    }

    /// Lays out the run: the starts, the sweeps, the outages.
    pub fn plan_run(&self, start: DateTime<Utc>) {
        let config = self.config.clone();
        let starts = crate::market::start_times(&config, &self.dice, start);
        let last = starts.last().map(|(at, _)| *at).unwrap_or(start);
        let mut n = 0;
        for (at, burst) in starts {
            for _ in 0..burst {
                if n >= config.workflows {
                    break;
                }
                self.schedule_start(n, at);
                n += 1;
            }
        }
        let end = last + TimeDelta::hours(30);
        let mut sweep_at = start;
        let mut sweep = 0;
        while sweep_at <= end {
            self.schedule(sweep_at, Action::Sweep(sweep));
            sweep += 1;
            sweep_at += TimeDelta::from_std(config.sweep_every).unwrap_or_default();
        }
        let outages = config.workflows / config.workflows_per_outage.max(1);
        let span = (last - start).num_seconds().max(3600) as u64;
        for _ in 0..outages {
            let offset = self.dice.between(600..=span);
            self.schedule(start + TimeDelta::seconds(offset as i64), Action::Outage);
        }
        let halts = config.workflows / config.workflows_per_halt.max(1);
        for n in 0..halts as u64 {
            let at = start + TimeDelta::seconds(self.dice.between(600..=span) as i64);
            let length = TimeDelta::seconds(self.dice.between(60..=3 * 3600) as i64);
            self.schedule(at, Action::Halt(n));
            self.schedule(at + length, Action::Resume(n));
        }
    }

    fn schedule_start(&self, n: usize, at: DateTime<Utc>) {
        // A random allocation of whole percents: a valid one every time. The symbol the
        // stage never buys comes up only as often as the config says; now and then a strategy
        // puts everything in one symbol.
        let barred = self.dice.chance(self.config.barred_symbol);
        let eligible: Vec<&(&str, &str)> = SYMBOLS
            .iter()
            .filter(|(symbol, _)| barred || *symbol != crate::market::BARRED)
            .collect();
        let chosen: Vec<&(&str, &str)> = if self.dice.chance(self.config.concentrated) {
            self.count("concentrated_plan", true);
            vec![eligible[self.dice.between(0..=(eligible.len() as u64 - 1)) as usize]]
        } else {
            eligible
                .into_iter()
                .filter(|_| self.dice.chance(0.5))
                .collect()
        };
        let chosen = if chosen.is_empty() {
            vec![&SYMBOLS[0]]
        } else {
            chosen
        };
        let mut left = 100u64;
        let mut allocation = SymbolMap::new();
        for (i, (symbol, _)) in chosen.iter().enumerate() {
            let share = if i + 1 == chosen.len() {
                left
            } else {
                self.dice.between(0..=left)
            };
            left -= share;
            if let Ok(symbol) = symbol.parse::<Symbol>() {
                allocation.insert(symbol, Decimal::new(share as i64, 2));
            }
        }
        let manual = self.dice.chance(self.config.manual_start);
        let tick = (!manual).then(|| format!("tick-{n}"));
        let payload = match &tick {
            Some(tick) => json!({
                "version": "0", "id": tick, "detail-type": "Scheduled Event",
                "source": "aws.scheduler", "time": Timestamp(at).to_wire(), "detail": {}
            }),
            None => json!({}),
        };
        let start = Start {
            n,
            allocation,
            payload,
            tick,
            request_id: format!("request-{n}"),
            attempt: 0,
        };
        self.count("manual_start", manual);
        if self.dice.chance(self.config.duplicate) {
            // Lambda delivers the asynchronous start twice (same request id).
            self.count("duplicate_start", true);
            let again = Start {
                n,
                allocation: start.allocation.clone(),
                payload: start.payload.clone(),
                tick: start.tick.clone(),
                request_id: start.request_id.clone(),
                attempt: 0,
            };
            let later = at + TimeDelta::seconds(self.dice.between(1..=120) as i64);
            self.schedule(later, Action::Start(again));
        }
        self.schedule(at, Action::Start(start));
    }

    /// Runs the world to its end on `executor`.
    pub fn run(&self, executor: &mut Executor) {
        executor.run(self);
    }

    fn spawn_invocation(
        &self,
        function: HandlerName,
        invoker: Arc<dyn Invoke>,
        payload: Value,
        handling: Handling,
        request_id: String,
        then: impl FnOnce(&WorldRef, Result<InvocationOutcome, String>) + Send + 'static,
    ) -> Spawn {
        let now = self.now();
        let deadline = now + TimeDelta::from_std(timeout(function)).unwrap_or_default();
        let context = InvocationContext {
            request_id,
            deadline: Some(deadline),
            trace_id: None,
            function_arn: Some(format!(
                "arn:aws:lambda:us-east-1:123456789012:function:alchemiser-{function}-sim"
            )),
        };
        let slot: Arc<Mutex<Option<Result<InvocationOutcome, InvocationError>>>> =
            Arc::new(Mutex::new(None));
        let written = slot.clone();
        let future = async move {
            let outcome = invoker.invoke(payload, &context).await;
            *written.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        };
        let world = self.clone();
        let started = self.clone();
        let task_id: Arc<Mutex<Option<TaskId>>> = Arc::new(Mutex::new(None));
        let registered = task_id.clone();
        Spawn {
            future: Box::pin(future),
            deadline: Some(deadline),
            crashable: true,
            on_start: Some(Box::new(move |id| {
                *registered.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
                started.lock().handling.insert(id, handling);
            })),
            on_end: Box::new(move |ending| {
                if let Some(id) = *task_id.lock().unwrap_or_else(|e| e.into_inner()) {
                    world.lock().handling.remove(&id);
                }
                let result = match ending {
                    Ending::Done => match slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                        Some(Ok(outcome)) => Ok(outcome),
                        Some(Err(error)) => Err(error.to_string()),
                        None => Err("the invocation ended without an outcome".into()),
                    },
                    Ending::Crashed => {
                        world.count("crash", true);
                        Err("the invocation crashed (simulated)".into())
                    }
                    Ending::TimedOut => {
                        world.count("timeout", true);
                        Err("Task timed out (simulated)".into())
                    }
                };
                then(&world, result);
            }),
        }
    }

    fn start(&self, start: Start) -> Spawn {
        let strategy =
            StrategyHandler::new(start.allocation.clone(), "simulation").with_clock(self.clock(0));
        let invoker: Arc<dyn Invoke> = Arc::new(TriggerInvoker::new(
            "strategy",
            Arc::new(strategy),
            self.functions().strategy_adapters.clone(),
        ));
        let payload = start.payload.clone();
        let trigger = start
            .tick
            .clone()
            .unwrap_or_else(|| start.request_id.clone());
        let handling = Handling {
            function: HandlerName::Strategy,
            event_id: trigger,
            kind: Kind::Start,
            replayed: false,
        };
        self.spawn_invocation(
            HandlerName::Strategy,
            invoker,
            payload,
            handling,
            start.request_id.clone(),
            move |world, result| {
                if result.is_err() && start.attempt < 2 {
                    world.count("lambda_retry", true);
                    let at = world.now() + TimeDelta::seconds(60 * (i64::from(start.attempt) + 1));
                    world.schedule(
                        at,
                        Action::Start(Start {
                            attempt: start.attempt + 1,
                            ..start
                        }),
                    );
                } else if result.is_err() {
                    world.count("start_lost", true);
                }
                let _ = start.n;
            },
        )
    }

    fn sweep(&self, n: u64) -> Spawn {
        self.lock().sweeps = n;
        let payload = json!({
            "version": "0",
            "id": format!("sweep-{n}"),
            "detail-type": "Scheduled Event",
            "source": alchemiser_lambda::SCHEDULER_SOURCE,
            "time": Timestamp(self.now()).to_wire(),
            "detail": {},
        });
        let handling = Handling {
            function: HandlerName::Monitor,
            event_id: format!("sweep-{n}"),
            kind: Kind::Sweep,
            replayed: false,
        };
        // A failed sweep is simply the next one's work.
        self.spawn_invocation(
            HandlerName::Monitor,
            self.functions().of(HandlerName::Monitor),
            payload,
            handling,
            format!("sim-sweep-{n}"),
            |world, _| world.count("sweep", true),
        )
    }

    /// The trading functions' rules stop delivering for a while (a rule disabled by mistake, a
    /// permissions change); once it is over and the archive has caught up, the operator replays
    /// the window — the incident the replay runbook is for.
    fn outage(&self) {
        let now = self.now();
        let length = TimeDelta::from_std(self.config.outage).unwrap_or_default();
        let mut state = self.lock();
        state.outages += 1;
        let n = state.outages;
        *state.faults.entry("outage").or_default() += 1;
        state.outage_until = Some(now + length);
        // `alchemiser replay` refuses windows that end less than ten minutes ago.
        let at = now + length + TimeDelta::minutes(10);
        self.schedule_at(
            &mut state,
            at,
            Action::Replay {
                n,
                from: now,
                to: now + length,
            },
        );
    }

    /// Checks one workflow that can see no more events, and forgets it.
    fn prune(&self, correlation_id: &str) {
        let Some(log) = self.lock().workflows.remove(correlation_id) else {
            return;
        };
        let violations = crate::invariants::check_workflow(self, &log);
        let event_ids: BTreeSet<String> = log
            .published
            .iter()
            .map(|p| p.event.event_id().to_owned())
            .collect();
        {
            let mut state = self.lock();
            state.checked.add(&log, violations);
        }
        self.ledger.forget(correlation_id);
        // The records of many workflows are forgotten in one pass over the stores: the events'
        // (keyed `function#event_id...`), the starts' (`strategy#<trigger>`), and the sweeps'
        // older than a day.
        let triggers: Vec<String> = {
            let state = self.lock();
            state
                .triggers
                .iter()
                .filter(|(_, workflows)| workflows.contains(correlation_id))
                .map(|(trigger, _)| trigger.clone())
                .collect()
        };
        let mut forgotten = self.forgotten.lock().unwrap_or_else(|e| e.into_inner());
        forgotten.extend(event_ids);
        forgotten.extend(triggers);
        if forgotten.len() >= 2_000 {
            let keys = std::mem::take(&mut *forgotten);
            let old_sweeps = self.lock().sweeps.saturating_sub(300);
            for store in self.stores.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                store.forget(|key| {
                    let id = key.split('#').nth(1).unwrap_or_default();
                    keys.contains(id)
                        || id
                            .strip_prefix("sweep-")
                            .and_then(|n| n.parse::<u64>().ok())
                            .is_some_and(|n| n < old_sweeps)
                });
            }
        }
    }

    /// Checks and forgets every workflow still known (at the end of the run).
    pub fn prune_all(&self) {
        let ids: Vec<String> = self.lock().workflows.keys().cloned().collect();
        for id in ids {
            self.prune(&id);
        }
    }

    /// What the checks found, and the counts of the workflows checked.
    pub fn checked(&self) -> crate::invariants::Checked {
        self.lock().checked.clone()
    }
}

impl crate::scheduler::World for WorldRef {
    fn next_event(&self) -> Option<DateTime<Utc>> {
        self.lock().events.keys().next().map(|(at, _)| *at)
    }

    fn run_events(&self, now: DateTime<Utc>) -> Vec<Spawn> {
        let mut spawns = Vec::new();
        loop {
            let action = {
                let mut state = self.lock();
                let Some((&key, _)) = state.events.iter().next() else {
                    break;
                };
                if key.0 > now {
                    break;
                }
                state.events.remove(&key).expect("the key just seen")
            };
            match action {
                Action::Start(start) => spawns.push(self.start(start)),
                Action::Deliver(delivery) => {
                    self.count("invocation", true);
                    spawns.push(self.deliver(delivery));
                }
                Action::FollowUpVisible(id) => spawns.extend(self.follow_up_visible(id)),
                Action::Sweep(n) => spawns.push(self.sweep(n)),
                Action::Outage => self.outage(),
                Action::Replay { n, from, to } => self.replay(n, from, to),
                Action::Redrive(id) => self.redrive(&id),
                Action::Forge(plan) => crate::forger::forge(self, &plan),
                Action::Prune(id) => self.prune(&id),
                Action::Halt(n) => self.flip(n, true),
                Action::Resume(n) => self.flip(n, false),
            }
        }
        spawns
    }
}

/// A text field of an envelope's detail (or of a bare detail), or empty.
fn detail_field(payload: &Value, field: &str) -> String {
    payload
        .get("detail")
        .unwrap_or(payload)
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Runs `future` to its end at once: what it awaits is in memory and never waits outside the
/// executor (a pause outside a task is no pause).
pub fn at_once<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("an in-memory read waited"),
    }
}
