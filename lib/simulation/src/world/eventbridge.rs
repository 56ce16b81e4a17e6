//! The simulated EventBridge: putting events on the bus, delivering them to each consuming rule's
//! function (late, twice, never, or to the rule's dead-letter queue), Lambda's retries of a failed
//! asynchronous invocation, and replays of the archive.

use super::*;

impl WorldRef {
    /// EventBridge takes `event` from `by` (with `replay_name` for an archive replay): every
    /// consumer gets it after a delay, sometimes twice, sometimes never, sometimes only in the
    /// dead-letter queue.
    pub fn put_event(&self, by: &'static str, event: Event, replay_name: Option<&str>) {
        let now = self.now();
        let Ok(entry) = Entry::from_event(&event, DEFAULT_SOURCE_PREFIX) else {
            return;
        };
        let correlation_id = event.header().correlation_id.clone();
        // A forger's event is no event of the system's: the forger keeps its own account of it.
        let forged = self.forger.is_forged(event.event_id());
        let mut state = self.lock();
        if replay_name.is_none() && !forged {
            let trigger = current_task()
                .and_then(|task| state.handling.get(&task))
                .filter(|h| h.kind == Kind::Start)
                .map(|h| h.event_id.clone());
            if let (Event::WorkflowStarted(_), Some(trigger)) = (&event, trigger) {
                state
                    .triggers
                    .entry(trigger)
                    .or_default()
                    .insert(correlation_id.clone());
            }
            if let Event::RebalancePlanned(planned) = &event {
                let plan = &planned.rebalance_plan;
                for item in &plan.items {
                    let side = match item.action {
                        TradeAction::Buy => OrderSide::Buy,
                        TradeAction::Sell => OrderSide::Sell,
                        TradeAction::Hold => continue,
                    };
                    state
                        .plans
                        .entry(client_order_id(&plan.plan_id, side, &item.symbol))
                        .or_insert_with(|| PlanOrder {
                            correlation_id: correlation_id.clone(),
                            plan_id: plan.plan_id.clone(),
                        });
                }
                if by == "portfolio"
                    && planned.header.provenance().is_live()
                    && self
                        .forger
                        .goes_after(&correlation_id, &self.dice, self.config.forgery)
                {
                    let at = now + self.delay();
                    self.schedule_at(&mut state, at, Action::Forge(Box::new(planned.clone())));
                }
            }
            let log = self.log(&mut state, &correlation_id);
            log.published.push(Published {
                event: event.clone(),
                by,
                at: now,
            });
        }
        let mut envelope = json!({
            "version": "0",
            "id": format!("sim-{}", state.sequence),
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
        let in_outage = state.outage_until.filter(|until| now < *until);
        for &function in event.event_type().route().consumers {
            let deliver = |kind| Delivery {
                function,
                payload: envelope.clone(),
                event_id: event_id.clone(),
                correlation_id: correlation_id.clone(),
                attempt: 0,
                kind,
            };
            if replay_name.is_some() {
                *state.faults.entry("replayed_delivery").or_default() += 1;
                let at = now + self.delay();
                self.schedule_at(&mut state, at, Action::Deliver(deliver(Kind::Replay)));
                continue;
            }
            // The monitor's deliveries are only delayed and duplicated: what it misses would
            // show as a false timeout, a visible failure, not an unsafe one.
            if function != HandlerName::Monitor {
                if let Some(until) = in_outage {
                    // EventBridge retries the rule's target with backoff: delivered late once
                    // the outage is over, or dead-lettered past the maximum event age.
                    let late = until
                        + TimeDelta::from_std(
                            self.dice
                                .duration(Duration::from_secs(1), Duration::from_secs(90 * 60)),
                        )
                        .unwrap_or_default();
                    if late - now > MAX_EVENT_AGE {
                        self.rule_dead_letter(
                            &mut state,
                            function,
                            &envelope,
                            &event_id,
                            &correlation_id,
                        );
                    } else {
                        *state.faults.entry("outage_delayed").or_default() += 1;
                        self.schedule_at(&mut state, late, Action::Deliver(deliver(Kind::Live)));
                    }
                    continue;
                }
                if self.dice.chance(self.config.lost_delivery) {
                    *state.faults.entry("lost_delivery").or_default() += 1;
                    self.log(&mut state, &correlation_id)
                        .lost
                        .insert((function, event_id.clone()));
                    continue;
                }
                if self.dice.chance(self.config.rule_dead_letter) {
                    self.rule_dead_letter(
                        &mut state,
                        function,
                        &envelope,
                        &event_id,
                        &correlation_id,
                    );
                    continue;
                }
            }
            let at = now + self.delay();
            self.schedule_at(&mut state, at, Action::Deliver(deliver(Kind::Live)));
            if self.dice.chance(self.config.duplicate) {
                *state.faults.entry("duplicate").or_default() += 1;
                let late = TimeDelta::from_std(
                    self.dice
                        .duration(Duration::from_millis(100), Duration::from_secs(600)),
                )
                .unwrap_or_default();
                self.schedule_at(
                    &mut state,
                    at + late,
                    Action::Deliver(deliver(Kind::Duplicate)),
                );
            }
            if self.dice.chance(self.config.late_duplicate) {
                *state.faults.entry("late_duplicate").or_default() += 1;
                self.schedule_at(
                    &mut state,
                    at + TimeDelta::days(1),
                    Action::Deliver(deliver(Kind::Duplicate)),
                );
            }
        }
    }

    pub(super) fn rule_dead_letter(
        &self,
        state: &mut State,
        function: HandlerName,
        envelope: &Value,
        event_id: &str,
        correlation_id: &str,
    ) {
        *state.faults.entry("rule_dead_letter").or_default() += 1;
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "ERROR_CODE".into(),
            "Lambda.TooManyRequestsException".into(),
        );
        attributes.insert(
            "RULE_ARN".into(),
            format!("arn:aws:events:us-east-1:123456789012:rule/alchemiser-{function}-events-sim"),
        );
        let _ = event_id;
        self.dead_letter(state, correlation_id, envelope.to_string(), attributes);
    }

    /// A message reaches the dead-letter queue; an operator redrives it later (a few times at
    /// most per event).
    pub(super) fn dead_letter(
        &self,
        state: &mut State,
        correlation_id: &str,
        body: String,
        attributes: BTreeMap<String, String>,
    ) {
        state.messages += 1;
        let id = format!("sim-msg-{:08}", state.messages);
        let now = self.now();
        let letter = DeadLetter::parse(id.clone(), body, attributes, Some(now), Some(1));
        self.forger.letter_queued(&letter);
        let event_id = letter.event_id.clone().unwrap_or_default();
        self.log(state, correlation_id)
            .dead_lettered
            .insert(event_id.clone());
        let redrives = state.redrives.entry(event_id).or_default();
        // A refused letter is always looked at, and the same day: `dlq list` shows it refused
        // for who made it (a security matter, no cause to fix first); the redrive refuses it
        // and the runbook deletes it once read.
        if *redrives < MAX_REDRIVES || letter.is_refused() {
            *redrives += 1;
            let after = if !letter.is_refused() && self.dice.chance(0.3) {
                TimeDelta::hours(26)
            } else {
                TimeDelta::minutes(self.dice.between(15..=120) as i64)
            };
            self.schedule_at(state, now + after, Action::Redrive(id));
        }
        self.dead_letters.push(letter);
    }

    /// A function records a permanent failure in the dead-letter queue; returns its message id.
    pub fn record_permanent(&self, failure: &alchemiser_events::FailureRecord) -> String {
        let body = serde_json::to_string(failure).unwrap_or_default();
        // A refusal for who made the event is no permanent failure of the workflow it names:
        // the forger's are expected, a genuine event's is noted for the invariants.
        let refused = failure.error_class == alchemiser_events::REFUSED_CLASS;
        if refused {
            self.forger.refused(
                failure.event_id.as_deref(),
                &failure.function,
                &failure.reason,
            );
        }
        let mut state = self.lock();
        if !refused {
            state
                .permanent
                .push(format!("{}: {}", failure.function, failure.reason));
            *state.faults.entry("permanent_failure").or_default() += 1;
        }
        let correlation_id = failure.correlation_id.clone().unwrap_or_default();
        self.dead_letter(&mut state, &correlation_id, body, BTreeMap::new());
        format!("sim-msg-{:08}", state.messages)
    }

    pub(super) fn deliver(&self, delivery: Delivery) -> Spawn {
        let invoker = self.functions().of(delivery.function);
        // What the decoder would say, read straight from the JSON: the envelope's mark, or the
        // provenance an event derived from a replay carries.
        let replayed = delivery.kind == Kind::Replay
            || delivery.payload.get("replay-name").is_some()
            || delivery.payload["detail"]["metadata"]["provenance"]["replay_name"].is_string();
        let handling = Handling {
            function: delivery.function,
            event_id: delivery.event_id.clone(),
            kind: delivery.kind,
            replayed,
        };
        // Lambda's retries of an asynchronous invocation keep its request id.
        let request_id = format!(
            "sim-{}-{}-{}",
            delivery.function, delivery.event_id, delivery.kind as u8
        );
        self.spawn_invocation(
            delivery.function,
            invoker,
            delivery.payload.clone(),
            handling,
            request_id,
            move |world, result| world.after_delivery(delivery, result),
        )
    }

    pub(super) fn after_delivery(
        &self,
        delivery: Delivery,
        result: Result<InvocationOutcome, String>,
    ) {
        let mut state = self.lock();
        match result {
            Ok(_) => {
                self.log(&mut state, &delivery.correlation_id)
                    .settled
                    .insert((delivery.function, delivery.event_id.clone()));
            }
            Err(error) if delivery.attempt < 2 => {
                *state.faults.entry("lambda_retry").or_default() += 1;
                let at = self.now() + TimeDelta::seconds(60 * (i64::from(delivery.attempt) + 1));
                let retry = Delivery {
                    attempt: delivery.attempt + 1,
                    kind: Kind::Retry,
                    ..delivery
                };
                self.schedule_at(&mut state, at, Action::Deliver(retry));
                let _ = error;
            }
            Err(error) => {
                *state.faults.entry("retries_exhausted").or_default() += 1;
                let body = json!({
                    "version": "1.0",
                    "timestamp": Timestamp(self.now()).to_wire(),
                    "requestContext": {
                        "requestId": format!("sim-{}-{}", delivery.function, delivery.event_id),
                        "functionArn": format!("arn:aws:lambda:us-east-1:123456789012:function:alchemiser-{}-sim:$LATEST", delivery.function),
                        "condition": "RetriesExhausted",
                        "approximateInvokeCount": 3
                    },
                    "requestPayload": delivery.payload,
                    "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                    "responsePayload": {"errorType": "Alchemiser.Transient", "errorMessage": error}
                });
                self.dead_letter(
                    &mut state,
                    &delivery.correlation_id,
                    body.to_string(),
                    BTreeMap::new(),
                );
            }
        }
    }

    /// An operator replays a window of the archive onto the bus: every live event of it, again.
    pub(super) fn replay(&self, n: u64, from: DateTime<Utc>, to: DateTime<Utc>) {
        let window: Vec<Event> = {
            let state = self.lock();
            let mut window: Vec<(DateTime<Utc>, Event)> = state
                .workflows
                .values()
                .flat_map(|log| log.published.iter())
                .filter(|p| p.at >= from && p.at <= to)
                .map(|p| (p.at, p.event.clone()))
                .collect();
            window.sort_by_key(|(at, _)| *at);
            window.into_iter().map(|(_, e)| e).collect()
        };
        if window.is_empty() {
            return;
        }
        self.count("replay", true);
        let name = format!("alchemiser-sim-replay-{n}");
        for event in window {
            self.put_event("archive", event, Some(&name));
        }
    }
}
