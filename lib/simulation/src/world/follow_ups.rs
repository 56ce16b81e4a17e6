//! The simulated order follow-up queue (SQS): follow-ups delivered when due, back after the
//! visibility timeout when their invocation fails, dead-lettered after five receives.

use super::*;

impl WorldRef {
    /// The follow-up queue takes `follow_up`; it becomes visible when due (15 minutes at most).
    pub fn enqueue_follow_up(&self, follow_up: &FollowUp) {
        let now = self.now();
        let delay = follow_up
            .delay(now)
            .min(alchemiser_lambda::follow_ups::LONGEST_DELAY);
        let correlation_id = detail_field(&follow_up.event, "correlation_id");
        let mut state = self.lock();
        state.messages += 1;
        let id = state.messages;
        *state.faults.entry("follow_up").or_default() += 1;

        state.follow_ups.insert(
            id,
            QueuedFollowUp {
                body: serde_json::to_value(follow_up).unwrap_or(Value::Null),
                correlation_id,
                receives: 0,
            },
        );
        let at = now + TimeDelta::from_std(delay).unwrap_or_default();
        self.schedule_at(&mut state, at, Action::FollowUpVisible(id));
    }

    pub(super) fn follow_up_visible(&self, id: u64) -> Option<Spawn> {
        let (body, correlation_id) = {
            let state = self.lock();
            let queued = state.follow_ups.get(&id)?;
            (queued.body.clone(), queued.correlation_id.clone())
        };
        let event_id = detail_field(&body["event"], "event_id");
        let handling = Handling {
            function: HandlerName::Execution,
            event_id,
            kind: Kind::FollowUp,
            replayed: false,
        };
        let _ = correlation_id;
        Some(self.spawn_invocation(
            HandlerName::Execution,
            self.functions().of(HandlerName::Execution),
            body,
            handling,
            format!("sim-follow-up-{id}"),
            move |world, result| world.after_follow_up(id, result),
        ))
    }

    pub(super) fn after_follow_up(&self, id: u64, result: Result<InvocationOutcome, String>) {
        let mut state = self.lock();
        match result {
            Ok(_) => {
                state.follow_ups.remove(&id);
            }
            Err(_) => {
                let Some(queued) = state.follow_ups.get_mut(&id) else {
                    return;
                };
                queued.receives += 1;
                if queued.receives >= FOLLOW_UP_MAX_RECEIVES {
                    let queued = state.follow_ups.remove(&id).expect("just seen");
                    *state.faults.entry("follow_up_dead_letter").or_default() += 1;
                    self.dead_letter(
                        &mut state,
                        &queued.correlation_id,
                        queued.body.to_string(),
                        BTreeMap::new(),
                    );
                } else {
                    let at =
                        self.now() + TimeDelta::from_std(FOLLOW_UP_VISIBILITY).unwrap_or_default();
                    self.schedule_at(&mut state, at, Action::FollowUpVisible(id));
                }
            }
        }
    }
}
