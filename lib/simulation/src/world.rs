//! The simulated cloud: one clock, one queue of things to happen, and the real functions —
//! the consumer runtime with the trading handlers, the monitor and the sweep — wired onto
//! simulated EventBridge, Lambda, DynamoDB, SQS and broker.
//!
//! - EventBridge delivers each event to each consuming function after a delay, sometimes twice
//!   (seconds, minutes or a day apart), sometimes not at all, sometimes to the dead-letter queue;
//!   it keeps every live event in an archive that replays deliver again with a `replay-name`.
//! - Lambda runs an asynchronous invocation and, when it fails, retries it twice (one and two
//!   minutes later), then sends it to the on-failure destination (the dead-letter queue).
//! - An operator redrives what is in the dead-letter queue, some minutes or a day later.
//! - The idempotency store and the PutEvents call fail now and then; the broker fails calls,
//!   loses answers to orders it did place, and fills late; each function's clock is off a little.
//! - The sweep runs every five minutes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alchemiser_bus::{EventHandler, TriggerHandler};
use alchemiser_clock::{Clock, ManualClock};
use alchemiser_deadletters::{DeadLetters, MemoryDeadLetters};
use alchemiser_eventbridge::Entry;
use alchemiser_events::{
    decode_value, DeadLetter, Decimal, Event, EventType, HandlerName, Provenance, Symbol,
    SymbolMap, Timestamp, DEFAULT_SOURCE_PREFIX,
};
use alchemiser_lambda::idempotency::{IdempotencyConfig, InMemoryStore};
use alchemiser_lambda::metrics::Metrics;
use alchemiser_lambda::{
    Adapters, InvocationContext, InvocationOutcome, Invoke, Invoker, ScheduleOrEvent,
    TriggerInvoker,
};
use alchemiser_ledger::{MemoryLedger, Monitor, Sweep};
use alchemiser_trading::{
    BrokerError, Call, ExecutionHandler, Fault, PaperBroker, PlannerConfig, PortfolioFile,
    PortfolioHandler, ScriptedBroker, StrategyHandler,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use crate::adapters::{AuditedBroker, DeadLetterSink, FlakyStore, OffsetClock, Sent, SimBus};
use crate::Config;

/// Seeded dice, shared by everything that decides by chance (so a seed replays a run).
#[derive(Clone)]
pub struct Dice(Arc<Mutex<fastrand::Rng>>);

impl Dice {
    /// Dice seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(Arc::new(Mutex::new(fastrand::Rng::with_seed(seed))))
    }
    fn rng<T>(&self, roll: impl FnOnce(&mut fastrand::Rng) -> T) -> T {
        roll(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
    /// True with probability `p`.
    pub fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.rng(|r| r.f64()) < p
    }
    /// A whole number in `range`.
    pub fn between(&self, range: std::ops::RangeInclusive<u64>) -> u64 {
        self.rng(|r| r.u64(range))
    }
    /// A duration between `low` and `high` (milliseconds resolution).
    pub fn duration(&self, low: Duration, high: Duration) -> Duration {
        let ms = self.between(low.as_millis() as u64..=high.as_millis() as u64);
        Duration::from_millis(ms)
    }
}

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
}

/// What a function is handling at a moment (the broker writes it down beside each order).
#[derive(Debug, Clone)]
pub struct Handling {
    /// The function.
    pub function: HandlerName,
    /// The event's id.
    pub event_id: String,
    /// How it was delivered.
    pub kind: Kind,
    /// The event is (or derives from) an archive replay.
    pub replayed: bool,
}

struct Delivery {
    function: HandlerName,
    payload: Value,
    event_id: String,
    attempt: u32,
    kind: Kind,
}

enum Action {
    Start(usize),
    Deliver(Delivery),
    Sweep(u64),
    Outage(u64),
    Replay {
        n: u64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    Redrive(String),
}

/// An event put on the bus.
#[derive(Debug, Clone)]
pub struct Published {
    /// The event.
    pub event: Event,
    /// Who put it there (`operator` for redrives).
    pub by: &'static str,
    /// When.
    pub at: DateTime<Utc>,
}

/// Counts of what happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Workflows started.
    pub workflows: usize,
    /// Events put on the bus (redrives included).
    pub events_published: usize,
    /// Invocations of the functions.
    pub invocations: usize,
    /// Deliveries EventBridge made twice.
    pub duplicates: usize,
    /// Deliveries a day late.
    pub late_duplicates: usize,
    /// Deliveries lost without trace.
    pub lost_deliveries: usize,
    /// Outages (the trading functions' rules delivered nothing for a while).
    pub outages: usize,
    /// Deliveries EventBridge sent to the dead-letter queue.
    pub rule_dead_letters: usize,
    /// Lambda retries.
    pub retries: usize,
    /// Invocations sent to the on-failure destination after the retries.
    pub retries_exhausted: usize,
    /// Failures the runtime recorded as permanent.
    pub permanent_failures: usize,
    /// PutEvents calls lost.
    pub publish_failures: usize,
    /// Replays run.
    pub replays: usize,
    /// Events delivered by replays.
    pub replayed_deliveries: usize,
    /// Dead letters redriven.
    pub redrives: usize,
    /// Sweeps run.
    pub sweeps: usize,
}

/// The world's state every adapter reaches.
pub struct Shared {
    /// The run's settings.
    pub config: Config,
    /// The dice.
    pub dice: Dice,
    /// Simulation time.
    pub clock: ManualClock,
    queue: BTreeMap<(DateTime<Utc>, u64), Action>,
    sequence: u64,
    /// What is being handled now.
    pub handling: Option<Handling>,
    /// Every order that reached the broker.
    pub sent: Vec<Sent>,
    /// Every live event put on the bus.
    pub published: Vec<Published>,
    /// Deliveries lost: (function, event id).
    pub lost: BTreeSet<(HandlerName, String)>,
    /// Invocations that ended (handled, duplicate or recorded as failed): (function, event id).
    pub settled: BTreeSet<(HandlerName, String)>,
    /// Events that reached the dead-letter queue, by event id.
    pub dead_lettered: BTreeSet<String>,
    /// The counts.
    pub stats: Stats,
    /// Why each permanent failure was recorded.
    pub permanent: Vec<String>,
    queue_of_letters: Option<Arc<MemoryDeadLetters>>,
    messages: u64,
    /// Until when the trading functions' deliveries are lost (an outage).
    outage_until: Option<DateTime<Utc>>,
}

impl Shared {
    fn schedule(&mut self, at: DateTime<Utc>, action: Action) {
        self.sequence += 1;
        self.queue.insert((at, self.sequence), action);
    }

    /// A new SQS message id.
    pub fn next_message_id(&mut self) -> String {
        self.messages += 1;
        format!("sim-msg-{:08}", self.messages)
    }

    fn delay(&self) -> TimeDelta {
        let d = self
            .dice
            .duration(Duration::from_millis(20), Duration::from_millis(2500));
        TimeDelta::from_std(d).unwrap_or_default()
    }

    /// EventBridge takes `event` from `by` (with `replay_name` for an archive replay): every
    /// consumer gets it after a delay, sometimes twice, sometimes never, sometimes only in the
    /// dead-letter queue.
    pub fn put_event(&mut self, by: &'static str, event: Event, replay_name: Option<&str>) {
        let now = self.clock.now();
        let Ok(entry) = Entry::from_event(&event, DEFAULT_SOURCE_PREFIX) else {
            return;
        };
        if replay_name.is_none() {
            self.stats.events_published += 1;
            self.published.push(Published {
                event: event.clone(),
                by,
                at: now,
            });
        }
        let mut envelope = json!({
            "version": "0",
            "id": format!("sim-{}", self.sequence),
            "detail-type": entry.detail_type,
            "source": entry.source,
            "account": "123456789012",
            "time": Timestamp(now).to_wire(),
            "region": "us-east-1",
            "resources": entry.resources,
            "detail": event.to_value(),
        });
        if let Some(name) = replay_name {
            envelope["replay-name"] = json!(name);
        }
        let event_id = event.event_id().to_owned();
        for &function in event.event_type().route().consumers {
            let deliver = |kind| Delivery {
                function,
                payload: envelope.clone(),
                event_id: event_id.clone(),
                attempt: 0,
                kind,
            };
            if replay_name.is_some() {
                self.stats.replayed_deliveries += 1;
                let at = now + self.delay();
                self.schedule(at, Action::Deliver(deliver(Kind::Replay)));
                continue;
            }
            // The monitor's deliveries are only delayed and duplicated: what it misses would
            // show as a false timeout, a visible failure, not an unsafe one.
            if function != HandlerName::Monitor {
                let in_outage = self.outage_until.is_some_and(|until| now < until);
                if in_outage || self.dice.chance(self.config.lost_delivery) {
                    self.stats.lost_deliveries += 1;
                    self.lost.insert((function, event_id.clone()));
                    continue;
                }
                if self.dice.chance(self.config.rule_dead_letter) {
                    self.stats.rule_dead_letters += 1;
                    let id = self.next_message_id();
                    let mut attributes = BTreeMap::new();
                    attributes.insert(
                        "ERROR_CODE".into(),
                        "Lambda.TooManyRequestsException".into(),
                    );
                    attributes.insert("RULE_ARN".into(), format!("arn:aws:events:us-east-1:123456789012:rule/alchemiser-{function}-events-sim"));
                    self.dead_letter(DeadLetter::parse(
                        id,
                        envelope.to_string(),
                        attributes,
                        Some(now),
                        Some(1),
                    ));
                    continue;
                }
            }
            let at = now + self.delay();
            self.schedule(at, Action::Deliver(deliver(Kind::Live)));
            if self.dice.chance(self.config.duplicate) {
                self.stats.duplicates += 1;
                let late = TimeDelta::from_std(
                    self.dice
                        .duration(Duration::from_millis(100), Duration::from_secs(600)),
                )
                .unwrap_or_default();
                self.schedule(at + late, Action::Deliver(deliver(Kind::Duplicate)));
            }
            if self.dice.chance(self.config.late_duplicate) {
                self.stats.late_duplicates += 1;
                self.schedule(
                    at + TimeDelta::days(1),
                    Action::Deliver(deliver(Kind::Duplicate)),
                );
            }
        }
    }

    fn dead_letter(&mut self, letter: DeadLetter) {
        if let Some(event_id) = &letter.event_id {
            self.dead_lettered.insert(event_id.clone());
        }
        let redrive_after = if self.dice.chance(0.3) {
            TimeDelta::hours(26)
        } else {
            TimeDelta::minutes(self.dice.between(15..=120) as i64)
        };
        let at = self.clock.now() + redrive_after;
        self.schedule(at, Action::Redrive(letter.message_id.clone()));
        if let Some(queue) = &self.queue_of_letters {
            queue.push(letter);
        }
    }
}

/// What a run left behind.
pub struct Snapshot {
    /// The run's settings.
    pub config: Config,
    /// Every live event put on the bus.
    pub published: Vec<Published>,
    /// Every order that reached the broker.
    pub sent: Vec<Sent>,
    /// Invocations that ended: (function, event id).
    pub settled: BTreeSet<(HandlerName, String)>,
    /// Events that reached the dead-letter queue.
    pub dead_lettered: BTreeSet<String>,
    /// The counts.
    pub stats: Stats,
    /// Why each permanent failure was recorded.
    pub permanent: Vec<String>,
}

/// Everything a run needs and leaves behind.
pub struct World {
    /// The shared state.
    pub shared: Arc<Mutex<Shared>>,
    /// The broker account every workflow trades in.
    pub account: Arc<PaperBroker>,
    /// The ledger the monitor keeps.
    pub ledger: Arc<MemoryLedger>,
    /// The dead-letter queue.
    pub dead_letters: Arc<MemoryDeadLetters>,
    invokers: BTreeMap<HandlerName, Arc<dyn Invoke>>,
    clock: ManualClock,
    dice: Dice,
    start: DateTime<Utc>,
}

/// Lambda's timeout of each function (the stack's values).
fn timeout(function: HandlerName) -> Duration {
    match function {
        HandlerName::Execution => Duration::from_secs(120),
        _ => Duration::from_secs(30),
    }
}

const SYMBOLS: [(&str, &str); 6] = [
    ("SPY", "512.30"),
    ("TLT", "91.45"),
    ("QQQ", "438.10"),
    ("IEF", "95.20"),
    ("GLD", "201.75"),
    ("BSV", "77.05"),
];

impl World {
    /// A world for `config`, starting at `start`.
    pub fn new(config: Config, start: DateTime<Utc>) -> Self {
        let dice = Dice::new(config.seed);
        let clock = ManualClock::starting_at(start);
        let shared = Arc::new(Mutex::new(Shared {
            dice: dice.clone(),
            clock: clock.clone(),
            queue: BTreeMap::new(),
            sequence: 0,
            handling: None,
            sent: Vec::new(),
            published: Vec::new(),
            lost: BTreeSet::new(),
            settled: BTreeSet::new(),
            dead_lettered: BTreeSet::new(),
            stats: Stats::default(),
            permanent: Vec::new(),
            queue_of_letters: None,
            messages: 0,
            outage_until: None,
            config: config.clone(),
        }));
        let dead_letters = Arc::new(MemoryDeadLetters::new());
        shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .queue_of_letters = Some(dead_letters.clone());
        let sim_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let skewed = |seconds: i64| -> Arc<dyn Clock> {
            Arc::new(OffsetClock {
                inner: sim_clock.clone(),
                offset: TimeDelta::seconds(seconds),
            })
        };
        let skew = config.clock_skew.as_secs() as i64;
        let portfolio_clock = skewed(dice.between(0..=(2 * skew as u64)) as i64 - skew);
        let execution_clock = skewed(dice.between(0..=(2 * skew as u64)) as i64 - skew);

        let positions: Vec<Value> = SYMBOLS
            .iter()
            .take(3)
            .map(|(symbol, price)| json!({"symbol": symbol, "qty": "100", "price": price}))
            .collect();
        let prices: serde_json::Map<String, Value> = SYMBOLS
            .iter()
            .map(|(symbol, price)| ((*symbol).to_owned(), json!(price)))
            .collect();
        let file = json!({"cash": "50000.00", "positions": positions, "prices": prices});
        let account = Arc::new(
            PaperBroker::in_memory(
                PortfolioFile::from_json(&file.to_string()).expect("the simulation's account"),
            )
            .with_clock(sim_clock.clone()),
        );
        let faults = dice.clone();
        let broker_config = config.clone();
        let scripted = ScriptedBroker::new(account.clone())
            .with_clock(sim_clock.clone())
            .with_faults(move |call| {
                let transient = || {
                    Fault::Fail(BrokerError::Transient(
                        "simulated: 503 Service Unavailable".into(),
                    ))
                };
                if faults.chance(broker_config.broker_transient) {
                    return Some(transient());
                }
                match call {
                    Call::Place(_) if faults.chance(broker_config.lost_answer) => {
                        Some(Fault::LostAnswer)
                    }
                    Call::Place(_) if faults.chance(broker_config.slow_fill) => {
                        Some(Fault::FillAfter(
                            faults.duration(Duration::from_secs(5), Duration::from_secs(90)),
                        ))
                    }
                    _ => None,
                }
            });
        let broker = Arc::new(AuditedBroker {
            inner: scripted,
            shared: shared.clone(),
        });

        let ledger = Arc::new(MemoryLedger::new());
        let store =
            |name: HandlerName| -> Arc<dyn alchemiser_lambda::idempotency::IdempotencyStore> {
                let _ = name;
                Arc::new(FlakyStore {
                    inner: InMemoryStore::with_config(IdempotencyConfig::default()),
                    dice: dice.clone(),
                    failure: config.store_failure,
                })
            };
        let adapters = |function: HandlerName, clock: Arc<dyn Clock>| Adapters {
            store: store(function),
            bus: Arc::new(SimBus {
                shared: shared.clone(),
                function: function.as_str(),
            }),
            failures: Arc::new(DeadLetterSink {
                queue: dead_letters.clone(),
                shared: shared.clone(),
            }),
            metrics: Metrics::Off,
            idempotency: IdempotencyConfig::default(),
            clock,
        };
        let portfolio: Arc<dyn EventHandler> = Arc::new(
            PortfolioHandler::new(broker.clone(), PlannerConfig::default())
                .with_clock(portfolio_clock.clone()),
        );
        let execution: Arc<dyn EventHandler> = Arc::new(
            ExecutionHandler::new(broker.clone(), config.execution.clone())
                .with_clock(execution_clock.clone()),
        );
        let monitor: Arc<dyn EventHandler> =
            Arc::new(Monitor::new(ledger.clone()).with_clock(sim_clock.clone()));
        let sweep: Arc<dyn TriggerHandler> = Arc::new(
            Sweep::new(
                ledger.clone(),
                dead_letters.clone(),
                config.workflow_deadline,
                "sim",
            )
            .with_clock(sim_clock.clone()),
        );
        let mut invokers: BTreeMap<HandlerName, Arc<dyn Invoke>> = BTreeMap::new();
        invokers.insert(
            HandlerName::Portfolio,
            Arc::new(Invoker::new(
                HandlerName::Portfolio,
                portfolio,
                adapters(HandlerName::Portfolio, portfolio_clock),
            )),
        );
        invokers.insert(
            HandlerName::Execution,
            Arc::new(Invoker::new(
                HandlerName::Execution,
                execution,
                adapters(HandlerName::Execution, execution_clock),
            )),
        );
        let monitor_adapters = adapters(HandlerName::Monitor, sim_clock.clone());
        invokers.insert(
            HandlerName::Monitor,
            Arc::new(ScheduleOrEvent {
                events: Invoker::new(HandlerName::Monitor, monitor, monitor_adapters.clone()),
                scheduled: TriggerInvoker::new("monitor", sweep, monitor_adapters),
            }),
        );
        Self {
            shared,
            account,
            ledger,
            dead_letters,
            invokers,
            clock,
            dice,
            start,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs every workflow and what follows from it until nothing is left to happen.
    pub async fn run(&self) {
        let config = self.lock().config.clone();
        // The schedule: workflows at random gaps, sweeps every five minutes until a day after
        // the last start (late duplicates and redrives come then), replays now and then.
        let mut at = self.start;
        for n in 0..config.workflows {
            self.lock().schedule(at, Action::Start(n));
            let gap = self
                .dice
                .duration(Duration::from_secs(30), Duration::from_secs(600));
            at += TimeDelta::from_std(gap).unwrap_or_default();
        }
        let end = at + TimeDelta::hours(30);
        let mut sweep_at = self.start;
        let mut n = 0;
        while sweep_at <= end {
            self.lock().schedule(sweep_at, Action::Sweep(n));
            n += 1;
            sweep_at += TimeDelta::from_std(config.sweep_every).unwrap_or_default();
        }
        let outages = config.workflows / config.workflows_per_outage.max(1);
        let span = (at - self.start).num_seconds().max(3600) as u64;
        for n in 0..outages as u64 {
            let offset = self.dice.between(600..=span);
            self.lock().schedule(
                self.start + TimeDelta::seconds(offset as i64),
                Action::Outage(n),
            );
        }

        loop {
            let next = {
                let mut shared = self.lock();
                let Some((&key, _)) = shared.queue.iter().next() else {
                    break;
                };
                let action = shared.queue.remove(&key).expect("the key just seen");
                (key.0, action)
            };
            let (when, action) = next;
            if when > self.clock.now() {
                self.clock.set(when);
            }
            match action {
                Action::Start(n) => self.start_workflow(n).await,
                Action::Deliver(delivery) => self.deliver(delivery).await,
                Action::Sweep(n) => self.sweep(n).await,
                Action::Outage(n) => self.outage(n),
                Action::Replay { n, from, to } => self.replay(n, from, to),
                Action::Redrive(message_id) => self.redrive(&message_id).await,
            }
        }
    }

    async fn start_workflow(&self, n: usize) {
        let chosen: Vec<&(&str, &str)> = SYMBOLS.iter().filter(|_| self.dice.chance(0.5)).collect();
        let chosen = if chosen.is_empty() {
            vec![&SYMBOLS[0]]
        } else {
            chosen
        };
        // Whole percents summing to 100: a valid allocation every time.
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
        let strategy =
            StrategyHandler::new(allocation, "simulation").with_clock(Arc::new(self.clock.clone()));
        let trigger = format!("tick-{n}");
        let Ok(events) = strategy.start("simulation", Timestamp(self.clock.now()), Some(&trigger))
        else {
            return;
        };
        let mut shared = self.lock();
        shared.stats.workflows += 1;
        for event in events {
            shared.put_event("strategy", event, None);
        }
    }

    async fn deliver(&self, delivery: Delivery) {
        let Some(invoker) = self.invokers.get(&delivery.function).cloned() else {
            return;
        };
        let replayed = decode_value(delivery.payload.clone())
            .map(|r| !r.event.header().provenance().is_live())
            .unwrap_or(false);
        let now = self.clock.now();
        {
            let mut shared = self.lock();
            shared.stats.invocations += 1;
            shared.handling = Some(Handling {
                function: delivery.function,
                event_id: delivery.event_id.clone(),
                kind: delivery.kind,
                replayed,
            });
        }
        let context = InvocationContext {
            request_id: format!("sim-{}-{}", delivery.function, delivery.event_id),
            deadline: TimeDelta::from_std(timeout(delivery.function))
                .ok()
                .map(|t| now + t),
            trace_id: None,
        };
        let outcome = invoker.invoke(delivery.payload.clone(), &context).await;
        let mut shared = self.lock();
        shared.handling = None;
        match outcome {
            Ok(
                InvocationOutcome::Handled { .. }
                | InvocationOutcome::Duplicate { .. }
                | InvocationOutcome::RecordedFailure { .. },
            ) => {
                shared
                    .settled
                    .insert((delivery.function, delivery.event_id.clone()));
            }
            Err(error) if delivery.attempt < 2 => {
                shared.stats.retries += 1;
                let wait = TimeDelta::seconds(60 * (i64::from(delivery.attempt) + 1));
                let at = self.clock.now() + wait;
                shared.schedule(
                    at,
                    Action::Deliver(Delivery {
                        attempt: delivery.attempt + 1,
                        kind: Kind::Retry,
                        ..delivery
                    }),
                );
                let _ = error;
            }
            Err(error) => {
                shared.stats.retries_exhausted += 1;
                let id = shared.next_message_id();
                let body = json!({
                    "version": "1.0",
                    "timestamp": Timestamp(self.clock.now()).to_wire(),
                    "requestContext": {
                        "requestId": context.request_id,
                        "functionArn": format!("arn:aws:lambda:us-east-1:123456789012:function:alchemiser-{}-sim:$LATEST", delivery.function),
                        "condition": "RetriesExhausted",
                        "approximateInvokeCount": 3
                    },
                    "requestPayload": delivery.payload,
                    "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                    "responsePayload": {"errorType": "Alchemiser.Transient", "errorMessage": error.to_string()}
                });
                let now = self.clock.now();
                shared.dead_letter(DeadLetter::parse(
                    id,
                    body.to_string(),
                    BTreeMap::new(),
                    Some(now),
                    Some(1),
                ));
            }
        }
    }

    async fn sweep(&self, n: u64) {
        let Some(monitor) = self.invokers.get(&HandlerName::Monitor).cloned() else {
            return;
        };
        self.lock().stats.sweeps += 1;
        let payload = json!({
            "version": "0",
            "id": format!("sweep-{n}"),
            "detail-type": "Scheduled Event",
            "source": alchemiser_lambda::SCHEDULER_SOURCE,
            "time": Timestamp(self.clock.now()).to_wire(),
            "detail": {},
        });
        let context = InvocationContext {
            request_id: format!("sim-sweep-{n}"),
            deadline: Some(self.clock.now() + TimeDelta::seconds(30)),
            trace_id: None,
        };
        // A failed sweep is simply the next one's work.
        let _ = monitor.invoke(payload, &context).await;
    }

    /// The trading functions' rules deliver nothing for a while (a rule disabled by mistake, a
    /// permissions change); once it is over and the archive has caught up, the operator replays
    /// the window — the incident the replay runbook is for.
    fn outage(&self, n: u64) {
        let mut shared = self.lock();
        let now = shared.clock.now();
        let length = TimeDelta::from_std(shared.config.outage).unwrap_or_default();
        shared.stats.outages += 1;
        shared.outage_until = Some(now + length);
        // `alchemiser replay` refuses windows that end less than ten minutes ago.
        let at = now + length + TimeDelta::minutes(10);
        shared.schedule(
            at,
            Action::Replay {
                n,
                from: now,
                to: now + length,
            },
        );
    }

    /// An operator replays a window of the archive onto the bus: every live event of it, again.
    fn replay(&self, n: u64, from: DateTime<Utc>, to: DateTime<Utc>) {
        let mut shared = self.lock();
        let window: Vec<Event> = shared
            .published
            .iter()
            .filter(|p| p.at >= from && p.at <= to)
            .map(|p| p.event.clone())
            .collect();
        if window.is_empty() {
            return;
        }
        shared.stats.replays += 1;
        let name = format!("alchemiser-sim-replay-{n}");
        for event in window {
            shared.put_event("archive", event, Some(&name));
        }
    }

    /// An operator redrives one dead letter: its event goes back on the bus, saying so.
    async fn redrive(&self, message_id: &str) {
        let Ok(held) = self.dead_letters.hold_all(Duration::from_secs(60)).await else {
            return;
        };
        let Some(item) = held.into_iter().find(|h| h.letter.message_id == message_id) else {
            return;
        };
        let Ok(received) = item.letter.original_event() else {
            return;
        };
        let mut event = received.event;
        event.header_mut().add_provenance(&Provenance {
            redriven_from: Some(message_id.to_owned()),
            ..Provenance::default()
        });
        let _ = self.dead_letters.delete(&item).await;
        let mut shared = self.lock();
        shared.stats.redrives += 1;
        // A redriven replay is still a replay: its envelope mark is in its provenance now.
        shared.put_event("operator", event, None);
    }

    /// A copy of what the run left behind, to check without holding the world's lock.
    pub fn snapshot(&self) -> Snapshot {
        let shared = self.lock();
        Snapshot {
            config: shared.config.clone(),
            published: shared.published.clone(),
            sent: shared.sent.clone(),
            settled: shared.settled.clone(),
            dead_lettered: shared.dead_lettered.clone(),
            stats: shared.stats.clone(),
            permanent: shared.permanent.clone(),
        }
    }

    /// How long the run covered in simulation time.
    pub fn elapsed(&self) -> TimeDelta {
        self.clock.now() - self.start
    }

    /// The event types of the run, for reports.
    pub fn published_of(&self, event_type: EventType) -> usize {
        self.lock()
            .published
            .iter()
            .filter(|p| p.event.event_type() == event_type)
            .count()
    }
}
