//! Provenance: where an event came from beyond its producer. An event delivered by an archive
//! replay, or redriven from the dead-letter queue, says so — and so does every event caused by it,
//! however many steps later — so that no order is ever placed on something nobody intended live.
//!
//! On the wire it is `metadata.provenance` (an object), which the Python models accept as part of
//! their free-form `metadata`; an event without it is live.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ContractError;
use crate::event::EventHeader;

/// The `metadata` key that carries an event's [`Provenance`].
pub const PROVENANCE_KEY: &str = "provenance";

/// Where an event, or one of its causes, came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Provenance {
    /// The archive replay (EventBridge `replay-name`) that delivered this event or a cause of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_name: Option<String>,
    /// The dead-letter message this event (or a cause of it) was redriven from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redriven_from: Option<String>,
    /// This event (or a cause of it) is a generated sample (`alchemiser publish --example`),
    /// not a decision of the system: execution runs samples dry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sample: bool,
}

impl Provenance {
    /// Provenance of an event delivered by the replay `name`.
    pub fn replayed(name: impl Into<String>) -> Self {
        Self {
            replay_name: Some(name.into()),
            ..Self::default()
        }
    }

    /// True when neither this event nor any cause of it was replayed from an archive.
    pub fn is_live(&self) -> bool {
        self.replay_name.is_none()
    }

    /// Provenance of a generated sample event.
    pub fn sample() -> Self {
        Self {
            sample: true,
            ..Self::default()
        }
    }

    /// True when nothing is recorded (the event is live, never redriven, not a sample).
    pub fn is_empty(&self) -> bool {
        self.replay_name.is_none() && self.redriven_from.is_none() && !self.sample
    }

    /// Adds what `other` knows and this does not (a replay name, or being a sample, is never
    /// lost).
    pub fn merge(&mut self, other: &Provenance) {
        self.sample |= other.sample;
        if self.replay_name.is_none() {
            self.replay_name.clone_from(&other.replay_name);
        }
        if self.redriven_from.is_none() {
            self.redriven_from.clone_from(&other.redriven_from);
        }
    }
}

impl EventHeader {
    /// This event's provenance (empty, i.e. live, when `metadata.provenance` is absent). An
    /// unreadable value counts as a replay: what cannot be shown live is never traded live
    /// (validation refuses such an event anyway).
    pub fn provenance(&self) -> Provenance {
        match self.metadata.as_ref().and_then(|m| m.get(PROVENANCE_KEY)) {
            None => Provenance::default(),
            Some(value) => serde_json::from_value(value.clone())
                .unwrap_or_else(|_| Provenance::replayed("unreadable-provenance")),
        }
    }

    /// Records `provenance` in `metadata.provenance` (or removes the key when it is empty).
    pub fn set_provenance(&mut self, provenance: &Provenance) {
        if provenance.is_empty() {
            if let Some(metadata) = self.metadata.as_mut() {
                metadata.remove(PROVENANCE_KEY);
            }
            return;
        }
        let value = serde_json::to_value(provenance).unwrap_or(Value::Null);
        self.metadata
            .get_or_insert_with(Map::new)
            .insert(PROVENANCE_KEY.into(), value);
    }

    /// Adds `extra` to this event's provenance.
    pub fn add_provenance(&mut self, extra: &Provenance) {
        let mut provenance = self.provenance();
        provenance.merge(extra);
        self.set_provenance(&provenance);
    }

    pub(crate) fn validate_provenance(&self) -> Result<(), ContractError> {
        let Some(value) = self.metadata.as_ref().and_then(|m| m.get(PROVENANCE_KEY)) else {
            return Ok(());
        };
        serde_json::from_value::<Provenance>(value.clone())
            .map(|_| ())
            .map_err(|error| {
                ContractError::rule(
                    "metadata.provenance",
                    format!("is not a provenance object ({error}); expected e.g. {{\"replay_name\": \"after-outage\"}}"),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, Timestamp};

    #[test]
    fn provenance_round_trips_through_metadata_and_is_carried_to_caused_events() {
        let at = Timestamp::now();
        let mut first =
            EventHeader::start_workflow(EventType::WorkflowStarted, "strategy", at, None);
        assert!(first.provenance().is_live());
        first.add_provenance(&Provenance::replayed("after-outage"));
        assert_eq!(
            first.metadata.as_ref().unwrap()[PROVENANCE_KEY],
            serde_json::json!({"replay_name": "after-outage"})
        );
        let second = EventHeader::caused_by(&first, EventType::SignalGenerated, "strategy", at);
        let third = EventHeader::caused_by(&second, EventType::RebalancePlanned, "portfolio", at);
        assert_eq!(
            third.provenance().replay_name.as_deref(),
            Some("after-outage")
        );
        assert!(!third.provenance().is_live());
    }

    #[test]
    fn a_replay_name_is_never_lost_in_a_merge() {
        let mut replayed = Provenance::replayed("r1");
        replayed.merge(&Provenance {
            redriven_from: Some("m-1".into()),
            ..Provenance::default()
        });
        assert_eq!(replayed.replay_name.as_deref(), Some("r1"));
        assert_eq!(replayed.redriven_from.as_deref(), Some("m-1"));
        let mut live = Provenance::default();
        live.merge(&replayed);
        assert!(!live.is_live());
    }

    #[test]
    fn a_sample_says_so_on_the_wire_and_so_does_every_event_it_causes() {
        let at = Timestamp::now();
        let mut signal =
            EventHeader::start_workflow(EventType::SignalGenerated, "strategy", at, None);
        signal.add_provenance(&Provenance::sample());
        assert_eq!(
            signal.metadata.as_ref().unwrap()[PROVENANCE_KEY],
            serde_json::json!({"sample": true})
        );
        let plan = EventHeader::caused_by(&signal, EventType::RebalancePlanned, "portfolio", at);
        assert!(plan.provenance().sample);
        assert!(plan.validate().is_ok());
        // A live event says nothing about samples.
        let live = EventHeader::start_workflow(EventType::SignalGenerated, "strategy", at, None);
        assert!(live
            .metadata
            .as_ref()
            .is_none_or(|m| !m.contains_key(PROVENANCE_KEY)));
    }
}
