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
    /// is made ([`unwired_consumers`] is empty, a test checks), so a miss is this file's bug.
    pub(super) fn of(&self, handler: HandlerName) -> Arc<dyn Invoke> {
        self.consumers.get(&handler).cloned().unwrap_or_else(|| {
            panic!("the simulation wires no function for {handler}: build it in lib/simulation/src/world/wiring.rs `wire`")
        })
    }
}

/// The handlers the routing table delivers events to that [`WorldRef::wire`] builds no function
/// for: a handler added to the registry must be wired here too, or its deliveries go nowhere.
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

    /// Builds the functions over the simulated ports.
    pub(super) fn wire(&self) -> Functions {
        let gate = Gate::new(self.clone());
        let broker = Arc::new(SimBroker {
            inner: self.market.broker.clone(),
            world: self.clone(),
            gate: gate.clone(),
        });
        let portfolio_clock = self.clock(self.skew());
        let execution_clock = self.clock(self.skew());
        let exact = self.clock(0);
        let portfolio: Arc<dyn EventHandler> = Arc::new(
            PortfolioHandler::new(broker.clone(), PlannerConfig::default())
                .with_clock(portfolio_clock.clone()),
        );
        // The switch through the cache the Lambda reads it through, on the function's clock.
        let halt = Arc::new(CachedHalt::new(
            self.halt.clone(),
            execution_clock.clone(),
            HALT_CACHE,
        ));
        let execution = ExecutionHandler::new(broker, self.config.execution.clone())
            .with_clock(execution_clock.clone());
        let execution: Arc<dyn EventHandler> = Arc::new(if self.config.halt_switch_wired {
            execution.with_halt(halt)
        } else {
            execution
        });
        let ledger: Arc<dyn alchemiser_ledger::LedgerStore> = Arc::new(SimLedger {
            inner: self.ledger.clone(),
            gate: gate.clone(),
            failure: self.config.store_failure,
        });
        let monitor: Arc<dyn EventHandler> =
            Arc::new(Monitor::new(ledger.clone()).with_clock(exact.clone()));
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
        let consumers: [(HandlerName, Arc<dyn Invoke>); 3] = [
            (
                HandlerName::Portfolio,
                Arc::new(Invoker::new(
                    HandlerName::Portfolio,
                    portfolio,
                    self.adapters(HandlerName::Portfolio, portfolio_clock),
                )),
            ),
            (
                HandlerName::Execution,
                Arc::new(Invoker::new(
                    HandlerName::Execution,
                    execution,
                    self.adapters(HandlerName::Execution, execution_clock),
                )),
            ),
            (
                HandlerName::Monitor,
                Arc::new(ScheduleOrEvent {
                    events: Invoker::new(HandlerName::Monitor, monitor, monitor_adapters.clone()),
                    scheduled: TriggerInvoker::new(
                        HandlerName::Monitor.as_str(),
                        sweep,
                        monitor_adapters,
                    ),
                }),
            ),
        ];
        Functions {
            consumers: consumers.into_iter().collect(),
            strategy_adapters: self.adapters(HandlerName::Strategy, exact),
        }
    }

    pub(super) fn functions(&self) -> &Functions {
        self.functions.get().expect("wired at creation")
    }
}
