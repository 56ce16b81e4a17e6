//! What operators do in the simulated world: redrive dead letters (judged as `alchemiser dlq
//! redrive` judges them), flip the trading halt switch.

use super::*;

impl WorldRef {
    /// The operator flips the switch (overlapping halts: the last word wins, as in SSM).
    pub(super) fn flip(&self, n: u64, halted: bool) {
        let now = self.now();
        self.halt.set(if halted {
            HaltState::halted(format!("simulated operator halt {n}"), "sim-operator", now)
        } else {
            HaltState::running()
        });
        self.halts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((now, halted));
        self.count("halt", halted);
    }

    /// When the switch was flipped: (time, halted), in order.
    pub fn halts(&self) -> Vec<(DateTime<Utc>, bool)> {
        self.halts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// An operator redrives one dead letter: a follow-up goes back to its queue, an event back
    /// on the bus, saying so.
    pub(super) fn redrive(&self, message_id: &str) {
        let Some(letter) = self.dead_letters.letter(message_id) else {
            return;
        };
        // Judged first, as `alchemiser dlq redrive` judges every letter: one whose event the
        // stage would refuse for who made it is never resent. The redrive keeps it and reports
        // it as a security matter; the operator reads it and deletes it (the runbook), here at
        // once.
        let judged = crate::forger::judge(&letter, &self.authenticity);
        if let crate::forger::Judged::Refused(why) = &judged {
            self.dead_letters.remove(message_id);
            self.count("redrive_refused", true);
            self.forger.redriven(&letter, false, why);
            return;
        }
        self.dead_letters.remove(message_id);
        self.count("redrive", true);
        if letter.kind == alchemiser_events::DeadLetterKind::FollowUp {
            if let Ok(mut follow_up) = serde_json::from_str::<FollowUp>(&letter.body) {
                follow_up.follow_up.due_at = self.now();
                self.enqueue_follow_up(&follow_up);
            }
            return;
        }
        let crate::forger::Judged::Redrivable(received) = judged else {
            return;
        };
        let mut event = received.event;
        event.header_mut().add_provenance(&Provenance {
            redriven_from: Some(message_id.to_owned()),
            ..Provenance::default()
        });
        // A redriven replay is still a replay: its envelope mark is in its provenance now.
        self.forger.redriven(&letter, true, "");
        self.put_event("operator", event, None);
    }
}
