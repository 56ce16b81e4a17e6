//! Event → PutEvents entry mapping, the AWS entry-size formula and batching.

use alchemiser_events::{Event, EventType, Provenance, ReceivedEvent, UnknownProducer};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::{Map, Value};

/// An event on its way out: the validated event (ids, type, time) and the `Detail` and `Source`
/// it is sent with. A new event is sent as it serialises; a forwarded one (a redrive, a captured
/// event published again, a drained outbox record) as its sender wrote it: an absent field stays
/// absent, unknown fields and wide integers stay as they were.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The event, validated.
    pub event: Event,
    /// What is sent as `Detail`.
    pub detail: Value,
    /// The `Source` it came with, kept when forwarding; `None`: its producer's, by the routing
    /// table and its `source_module`.
    pub source: Option<String>,
}

impl Outgoing {
    /// A new event, sent as it serialises.
    pub fn new(event: Event) -> Self {
        Self {
            detail: event.to_value(),
            event,
            source: None,
        }
    }

    /// A received event, to send on as its sender wrote it (with its envelope's `Source`). A
    /// replay's mark, which EventBridge puts on the envelope only, is written into the detail's
    /// provenance: a forwarded replay stays a replay.
    pub fn forward(received: ReceivedEvent) -> Self {
        let forwarded = Self {
            event: received.event,
            detail: received.detail,
            source: received.envelope.map(|meta| meta.source),
        };
        if forwarded.event.header().provenance().is_live() {
            forwarded
        } else {
            forwarded.with_provenance(&Provenance::default())
        }
    }

    /// Adds `provenance` to the event, and the event's whole provenance to the detail's
    /// `metadata` (created when the sender wrote none): the one change forwarding makes.
    pub fn with_provenance(mut self, provenance: &Provenance) -> Self {
        self.event.header_mut().add_provenance(provenance);
        let merged = self
            .event
            .header()
            .metadata
            .as_ref()
            .and_then(|m| m.get(alchemiser_events::PROVENANCE_KEY))
            .cloned();
        if let (Some(merged), Some(detail)) = (merged, self.detail.as_object_mut()) {
            let metadata = detail
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if !metadata.is_object() {
                *metadata = Value::Object(Map::new());
            }
            if let Some(metadata) = metadata.as_object_mut() {
                metadata.insert(alchemiser_events::PROVENANCE_KEY.to_owned(), merged);
            }
        }
        self
    }
}

/// Where Lambda puts the X-Ray trace header of the invocation running (set per invocation).
pub const TRACE_ENV: &str = "_X_AMZN_TRACE_ID";

/// Bytes the entry-size formula counts for a set `Time`.
pub const TIME_BYTES: usize = 14;

/// One event as a PutEvents entry, before it is handed to the SDK.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The event's id (not sent as a field; used in reports).
    pub event_id: String,
    /// The event's type (`DetailType`).
    pub event_type: EventType,
    /// `Source`: the producer's, from the routing table (or the forwarded event's own).
    pub source: String,
    /// `DetailType`: the event type's name.
    pub detail_type: String,
    /// `Detail`: the event's wire JSON.
    pub detail: String,
    /// `Time`: the event's timestamp.
    pub time: chrono::DateTime<chrono::Utc>,
    /// `Resources`: `correlation:<id>`, `causation:<id>`.
    pub resources: Vec<String>,
    /// `TraceHeader`: the X-Ray trace of the invocation that publishes (Lambda's
    /// `_X_AMZN_TRACE_ID`), so the consumers' invocations join it and a workflow is one trace.
    pub trace_header: Option<String>,
}

impl Entry {
    /// Maps a new event; its `Source` is its producer's (by `source_module`) for `source_prefix`.
    pub fn from_event(event: &Event, source_prefix: &str) -> Result<Self, UnknownProducer> {
        let route = event.event_type().route();
        let source = route.source_of(&event.header().source_module, source_prefix)?;
        Ok(Self::build(event, source, event.to_json()))
    }

    /// Maps an outgoing event. A kept `Source` must be its producer's: a forwarded event is
    /// refused rather than sent under a source its consumers would not accept.
    pub fn from_outgoing(
        outgoing: &Outgoing,
        source_prefix: &str,
    ) -> Result<Self, UnknownProducer> {
        let route = outgoing.event.event_type().route();
        let source = match &outgoing.source {
            Some(source) => {
                route.check_source(source, source_prefix)?;
                source.clone()
            }
            None => route.source_of(&outgoing.event.header().source_module, source_prefix)?,
        };
        Ok(Self::build(
            &outgoing.event,
            source,
            outgoing.detail.to_string(),
        ))
    }

    fn build(event: &Event, source: String, detail: String) -> Self {
        let header = event.header();
        Self {
            event_id: header.event_id.clone(),
            event_type: event.event_type(),
            source,
            detail_type: event.event_type().as_str().to_owned(),
            detail,
            time: header.timestamp.0,
            resources: vec![
                format!("correlation:{}", header.correlation_id),
                format!("causation:{}", header.causation_id),
            ],
            trace_header: std::env::var(TRACE_ENV)
                .ok()
                .filter(|trace| !trace.is_empty()),
        }
    }

    /// The entry's size by the AWS formula: 14 bytes for `Time` plus the UTF-8 bytes of
    /// `Source`, `DetailType`, `Detail` and each `Resources` string.
    pub fn size(&self) -> usize {
        TIME_BYTES
            + self.source.len()
            + self.detail_type.len()
            + self.detail.len()
            + self.resources.iter().map(String::len).sum::<usize>()
    }

    /// The SDK entry for `bus_name`.
    pub fn to_sdk(&self, bus_name: &str) -> PutEventsRequestEntry {
        let nanos = self.time.timestamp_subsec_nanos();
        PutEventsRequestEntry::builder()
            .source(&self.source)
            .detail_type(&self.detail_type)
            .detail(&self.detail)
            .time(DateTime::from_secs_and_nanos(self.time.timestamp(), nanos))
            .set_resources(Some(self.resources.clone()))
            .set_trace_header(self.trace_header.clone())
            .event_bus_name(bus_name)
            .build()
    }
}

/// Groups entries (given by their sizes, in order) into PutEvents requests of at most
/// `max_entries` entries and at most `max_bytes` total size, keeping order. Entries larger than
/// `max_bytes` on their own are left out and returned separately: they can never be sent.
///
/// Returns `(batches, oversized)` as indices into `sizes`.
pub fn plan_batches(
    sizes: &[usize],
    max_entries: usize,
    max_bytes: usize,
) -> (Vec<Vec<usize>>, Vec<usize>) {
    let max_entries = max_entries.max(1);
    let mut batches = Vec::new();
    let mut oversized = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut current_bytes = 0usize;
    for (index, &size) in sizes.iter().enumerate() {
        if size > max_bytes {
            oversized.push(index);
            continue;
        }
        if !current.is_empty() && (current.len() == max_entries || current_bytes + size > max_bytes)
        {
            batches.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current.push(index);
        current_bytes += size;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    (batches, oversized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alchemiser_events::samples::sample_event;

    #[test]
    fn mapping_follows_the_routing_table_and_the_event() {
        for event_type in EventType::ALL {
            let event = sample_event(event_type);
            let entry = Entry::from_event(&event, "acme").unwrap();
            let header = event.header();
            assert_eq!(
                entry.source,
                format!("acme.{}", event.header().source_module)
            );
            assert_eq!(entry.detail_type, event_type.as_str());
            assert_eq!(entry.detail, event.to_json());
            assert_eq!(entry.time, header.timestamp.0);
            assert_eq!(
                entry.resources,
                vec![
                    format!("correlation:{}", header.correlation_id),
                    format!("causation:{}", header.causation_id)
                ]
            );
            let sdk = entry.to_sdk("bus-1");
            assert_eq!(sdk.event_bus_name(), Some("bus-1"));
            assert_eq!(sdk.source(), Some(entry.source.as_str()));
            assert_eq!(sdk.detail_type(), Some(event_type.as_str()));
            assert_eq!(sdk.detail(), Some(entry.detail.as_str()));
            assert_eq!(sdk.resources(), entry.resources.as_slice());
            let time = sdk.time().expect("time is set");
            assert_eq!(time.secs(), header.timestamp.0.timestamp());
            assert_eq!(
                time.subsec_nanos(),
                header.timestamp.0.timestamp_subsec_nanos()
            );
        }
        let signal =
            Entry::from_event(&sample_event(EventType::SignalGenerated), "alchemiser").unwrap();
        assert_eq!(signal.source, "alchemiser.strategy");
    }

    #[test]
    fn size_is_the_aws_formula_in_utf8_bytes() {
        let entry = Entry {
            event_id: "e".into(),
            event_type: EventType::WorkflowFailed,
            source: "a.b".into(),                 // 3
            detail_type: "WorkflowFailed".into(), // 14
            detail: r#"{"x":"é€😀"}"#.into(),     // 8 + 2 + 3 + 4 = 17
            time: chrono::Utc::now(),
            resources: vec!["c:ü".into(), "d".into()], // 4 + 1
            trace_header: Some("Root=1-5759e988-bd862e3fe1be46a994272793".into()), // not counted
        };
        assert_eq!(entry.detail.len(), 17);
        assert_eq!(
            entry.to_sdk("bus").trace_header(),
            entry.trace_header.as_deref(),
            "the trace travels with the entry"
        );
        assert_eq!(entry.size(), 14 + 3 + 14 + 17 + 4 + 1);
    }

    #[test]
    fn exactly_ten_entries_make_one_batch_and_eleven_make_two() {
        let (batches, oversized) = plan_batches(&[100; 10], 10, 262_144);
        assert_eq!(batches, vec![(0..10).collect::<Vec<_>>()]);
        assert!(oversized.is_empty());
        let (batches, _) = plan_batches(&[100; 11], 10, 262_144);
        assert_eq!(batches, vec![(0..10).collect::<Vec<_>>(), vec![10]]);
    }

    #[test]
    fn batch_size_one_sends_each_entry_alone() {
        let (batches, _) = plan_batches(&[1; 3], 1, 100);
        assert_eq!(batches, vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn size_boundary_exactly_at_the_limit_and_one_byte_over() {
        // Exactly at the limit: one request.
        let (batches, oversized) = plan_batches(&[400, 600], 10, 1000);
        assert_eq!(batches, vec![vec![0, 1]]);
        assert!(oversized.is_empty());
        // One byte over: two requests.
        let (batches, _) = plan_batches(&[400, 601], 10, 1000);
        assert_eq!(batches, vec![vec![0], vec![1]]);
        // A single entry exactly at the limit is sendable; one byte more is not.
        let (batches, oversized) = plan_batches(&[1000], 10, 1000);
        assert_eq!((batches, oversized), (vec![vec![0]], vec![]));
        let (batches, oversized) = plan_batches(&[1001], 10, 1000);
        assert_eq!((batches, oversized), (Vec::<Vec<usize>>::new(), vec![0]));
    }

    #[test]
    fn one_oversized_entry_among_good_ones_is_set_aside() {
        let (batches, oversized) = plan_batches(&[10, 10, 5000, 10], 10, 1000);
        assert_eq!(batches, vec![vec![0, 1, 3]]);
        assert_eq!(oversized, vec![2]);
    }

    #[test]
    fn real_entry_sizes_respect_the_limit() {
        let entries: Vec<Entry> = (0..25)
            .map(|_| {
                Entry::from_event(&sample_event(EventType::RebalancePlanned), "alchemiser").unwrap()
            })
            .collect();
        let sizes: Vec<usize> = entries.iter().map(Entry::size).collect();
        let limit = sizes[0] * 3 + 1;
        let (batches, oversized) = plan_batches(&sizes, 10, limit);
        assert!(oversized.is_empty());
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 25);
        for batch in batches {
            assert!(batch.len() <= 3);
            assert!(batch.iter().map(|&i| sizes[i]).sum::<usize>() <= limit);
        }
    }
}
