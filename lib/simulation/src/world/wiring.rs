//! The functions over the simulated ports: each handler built as its stage deploys it (the
//! registry's timeouts and needs), on its own clock.

use super::*;

/// The world's functions.
pub(super) struct Functions {
    /// The function of each handler the routing table delivers events to (see [`WorldRef::wire`]).
    consumers: BTreeMap<HandlerName, Arc<dyn Invoke>>,
    pub(super) strategy_adapters: Adapters,
}

impl Functions {
    /// The function of `handler`. Every consumer of the routing table is wired when the world
    /// is made ([`unwired_consumers`] is empty, a test checks).
    pub(super) fn of(&self, handler: HandlerName) -> Arc<dyn Invoke> {
        self.consumers.get(&handler).cloned().unwrap_or_else(|| {
            panic!("the simulation wires no function for {handler}: give it an arm in Workflow::handler (lib/trading/src/handlers/mod.rs)")
        })
    }
}

/// The handlers the routing table delivers events to that [`WorldRef::wire`] builds no function
/// for (the trading crate's `Workflow` has no handler of that name): their deliveries would go
/// nowhere.
pub fn unwired_consumers() -> Vec<HandlerName> {
    let world = WorldRef::new(Config::new(0, 0), Utc::now());
    HandlerName::ALL
        .into_iter()
        .filter(|handler| handler.consumes().next().is_some())
        .filter(|handler| !world.functions().consumers.contains_key(handler))
        .collect()
}

/// Lambda's timeout of each function: the registry's, which the stack deploys.
pub(super) fn timeout(function: HandlerName) -> Duration {
    function.spec().timeout
}

impl WorldRef {
    pub(super) fn clock(&self, offset_seconds: i64) -> Arc<dyn Clock> {
        Arc::new(SimClock {
            time: self.time.clone(),
            offset: TimeDelta::seconds(offset_seconds),
        })
    }

    pub(super) fn skew(&self) -> i64 {
        let skew = self.config.clock_skew.as_secs();
        self.dice.between(0..=2 * skew) as i64 - skew as i64
    }

    pub(super) fn adapters(&self, function: HandlerName, clock: Arc<dyn Clock>) -> Adapters {
        let gate = Gate::new(self.clone());
        let store = Arc::new(InMemoryStore::with_config(IdempotencyConfig::default()));
        self.stores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(store.clone());
        Adapters {
            store: Arc::new(SimStore {
                inner: store,
                gate: gate.clone(),
                failure: self.config.store_failure,
            }),
            bus: Arc::new(SimBus {
                world: self.clone(),
                gate: gate.clone(),
                function: function.as_str(),
            }),
            dead_letters: Arc::new(SimDeadLetterRecorder {
                world: self.clone(),
                gate: gate.clone(),
            }),
            follow_ups: function.needs(Need::OrderFollowUps).then(|| {
                Arc::new(SimFollowUps {
                    world: self.clone(),
                    gate,
                }) as Arc<dyn alchemiser_lambda::follow_ups::FollowUps>
            }),
            // The simulation's own keys; unsigned events come from no one but a forger.
            authenticity: self.authenticity.clone(),
            metrics: Metrics::Off,
            idempotency: IdempotencyConfig::default(),
            clock,
        }
    }

    /// Builds the functions over the simulated ports: every consumer of the routing table as
    /// the trading crate's [`Workflow`] assembles it (each on its own skewed clock), the monitor
    /// with its scheduled sweep.
    pub(super) fn wire(&self) -> Functions {
        let gate = Gate::new(self.clone());
        let broker = Arc::new(SimBroker {
            inner: self.market.broker.clone(),
            world: self.clone(),
            gate: gate.clone(),
        });
        let exact = self.clock(0);
        let clocks: BTreeMap<HandlerName, Arc<dyn Clock>> = HandlerName::ALL
            .into_iter()
            .map(|handler| {
                let clock = match handler {
                    // The sweep's deadlines are the monitor's: its machine keeps exact time.
                    HandlerName::Monitor | HandlerName::Strategy => exact.clone(),
                    _ => self.clock(self.skew()),
                };
                (handler, clock)
            })
            .collect();
        let clock_of =
            |handler: HandlerName| clocks.get(&handler).cloned().unwrap_or(exact.clone());
        let ledger: Arc<dyn alchemiser_ledger::LedgerStore> = Arc::new(SimLedger {
            inner: self.ledger.clone(),
            gate: gate.clone(),
            failure: self.config.store_failure,
        });
        let monitor: Arc<dyn EventHandler> =
            Arc::new(Monitor::new(ledger.clone()).with_clock(exact.clone()));
        let workflow = Workflow::new(
            broker,
            PlannerConfig::default(),
            self.config.execution.clone(),
            clock_of,
            monitor.clone(),
        );
        // The switch through the cache the Lambda reads it through, on the function's clock.
        let workflow = if self.config.halt_switch_wired {
            workflow.with_halt(Arc::new(CachedHalt::new(
                self.halt.clone(),
                clock_of(HandlerName::Execution),
                HALT_CACHE,
            )))
        } else {
            workflow
        };
        let monitor_adapters = self.adapters(HandlerName::Monitor, exact.clone());
        let sweep: Arc<dyn TriggerHandler> = Arc::new(
            Sweep::new(
                ledger,
                Arc::new(SimDeadLetters {
                    inner: self.dead_letters.clone(),
                    gate,
                }),
                self.config.workflow_deadline,
                "sim",
            )
            .with_clock(exact.clone())
            .with_authenticity(monitor_adapters.authenticity.clone()),
        );
        let mut consumers: BTreeMap<HandlerName, Arc<dyn Invoke>> = BTreeMap::new();
        for handler in HandlerName::ALL {
            let Some(consumer) = workflow.handler(handler) else {
                continue;
            };
            let function: Arc<dyn Invoke> = if handler == HandlerName::Monitor {
                Arc::new(ScheduleOrEvent {
                    events: Invoker::new(handler, consumer, monitor_adapters.clone()),
                    scheduled: TriggerInvoker::new(
                        handler.as_str(),
                        sweep.clone(),
                        monitor_adapters.clone(),
                    ),
                })
            } else {
                Arc::new(Invoker::new(
                    handler,
                    consumer,
                    self.adapters(handler, clock_of(handler)),
                ))
            };
            consumers.insert(handler, function);
        }
        Functions {
            consumers,
            strategy_adapters: self.adapters(HandlerName::Strategy, exact),
        }
    }

    pub(super) fn functions(&self) -> &Functions {
        self.functions.get().expect("wired at creation")
    }
}
