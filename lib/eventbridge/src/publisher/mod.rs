//! The publisher: batches events into PutEvents calls, resends what a resend can fix, and keeps
//! everything else in the outbox. Every event ends up delivered or reported (and kept).
//!
//! One file per part: [`delivery`] (batches, rounds, settling each entry), [`keep`] (the
//! outbox), [`bus_check`] (the bus exists), [`drain`] (resending the outbox).

mod bus_check;
mod delivery;
mod drain;
mod keep;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use alchemiser_aws::ClientSettings;
use alchemiser_bus::{EventBus, PublishReport, Undelivered};
use alchemiser_events::Event;
use async_trait::async_trait;
use aws_config::{BehaviorVersion, ConfigLoader};
use tokio::sync::OnceCell;

pub use drain::{Admission, DrainAdmission, DrainProgress, DrainReport, ResendEverything};

use crate::config::PublisherConfig;
use crate::entry::{Entry, Outgoing};
use crate::outbox::OutboxRecord;
use crate::retry::Failure;
use alchemiser_events::UnknownProducer;
use delivery::{lost_track, EntryOutcome};

/// Local error code of an entry larger than the request limit.
pub const CODE_ENTRY_TOO_LARGE: &str = "EntryTooLarge";
/// Local error code of entries not sent because the publish deadline had passed.
pub const CODE_DEADLINE: &str = "DeadlineExceeded";
/// Local error code of an event from a producer the routing table does not know for its type.
pub const CODE_UNKNOWN_PRODUCER: &str = "UnknownProducer";

/// Cumulative counters of one publisher, for benchmarks, tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// PutEvents requests sent (answered or not).
    pub requests: u64,
    /// PutEvents requests that failed as a whole (error response, timeout, connection error).
    pub failed_requests: u64,
    /// Entries sent, resends included.
    pub entries_sent: u64,
    /// Entries resent after a retryable failure.
    pub entry_retries: u64,
    /// Events delivered (EventBridge returned an event id).
    pub delivered: u64,
    /// Events not delivered.
    pub undelivered: u64,
    /// Undelivered events kept in the outbox.
    pub kept: u64,
    /// Undelivered events the outbox could not take (reported loudly; see the log).
    pub not_kept: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    failed_requests: AtomicU64,
    entries_sent: AtomicU64,
    entry_retries: AtomicU64,
    delivered: AtomicU64,
    undelivered: AtomicU64,
    kept: AtomicU64,
    not_kept: AtomicU64,
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

struct Clients {
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
}

/// Publishes events to one EventBridge bus. Cheap to create: the AWS clients are built on first
/// use from the standard configuration chain (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials), and
/// the bus is checked once (DescribeEventBus) unless `verify_bus` is off.
///
/// Retries: the SDK's own retry is set to one attempt, so this publisher alone decides
/// resends — whole-request failures (throttling, 5xx, timeouts, connection errors) and
/// retryable entries alike — with capped exponential backoff and full jitter, bounded by
/// `max_attempts` per entry and by `deadline` per publish call. The SDK's timeouts
/// (`attempt_timeout`, `connect_timeout`) keep every call finite.
pub struct EventBridgePublisher {
    config: PublisherConfig,
    loader: Mutex<Option<ConfigLoader>>,
    clients: OnceCell<Clients>,
    bus_checked: OnceCell<()>,
    counters: Counters,
}

impl std::fmt::Debug for EventBridgePublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBridgePublisher")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl EventBridgePublisher {
    /// A publisher using the standard AWS configuration chain.
    pub fn new(config: PublisherConfig) -> Self {
        Self::build(config, None)
    }

    /// A publisher whose AWS configuration starts from `loader` (e.g. with an endpoint URL,
    /// region and static credentials for tests). The HTTP client, timeouts and retry settings
    /// are still set by the publisher.
    pub fn with_config_loader(config: PublisherConfig, loader: ConfigLoader) -> Self {
        Self::build(config, Some(loader))
    }

    fn build(config: PublisherConfig, loader: Option<ConfigLoader>) -> Self {
        Self {
            config,
            loader: Mutex::new(loader),
            clients: OnceCell::new(),
            bus_checked: OnceCell::new(),
            counters: Counters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PublisherConfig {
        &self.config
    }

    /// The counters so far.
    pub fn stats(&self) -> PublisherStats {
        let c = &self.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        PublisherStats {
            requests: get(&c.requests),
            failed_requests: get(&c.failed_requests),
            entries_sent: get(&c.entries_sent),
            entry_retries: get(&c.entry_retries),
            delivered: get(&c.delivered),
            undelivered: get(&c.undelivered),
            kept: get(&c.kept),
            not_kept: get(&c.not_kept),
        }
    }

    async fn clients(&self) -> &Clients {
        self.clients
            .get_or_init(|| async {
                let loader = self
                    .loader
                    .lock()
                    .ok()
                    .and_then(|mut slot| slot.take())
                    .unwrap_or_else(|| aws_config::defaults(BehaviorVersion::latest()));
                // One attempt: resends are this publisher's decision (see the type's docs).
                let settings = ClientSettings {
                    connect_timeout: self.config.connect_timeout,
                    attempt_timeout: self.config.attempt_timeout,
                    operation_timeout: self.config.attempt_timeout,
                    max_attempts: 1,
                };
                let sdk = alchemiser_aws::load_with(loader, settings).await;
                Clients {
                    events: aws_sdk_eventbridge::Client::new(&sdk),
                    sqs: aws_sdk_sqs::Client::new(&sdk),
                }
            })
            .await
    }

    /// Publishes `events`: every one is delivered, or reported undelivered with its code and
    /// reason and kept in the outbox (`kept_in`). Never panics; returns within about
    /// `deadline` plus one outbox write.
    pub async fn publish(&self, events: Vec<Event>) -> PublishReport {
        self.send(events.into_iter().map(Outgoing::new).collect())
            .await
    }

    /// Publishes outgoing events (new or forwarded) with the same guarantees as
    /// [`publish`](Self::publish). An event whose `source_module` or kept `Source` is not a
    /// producer of its type is not sent: it is reported and kept in the outbox with code `UnknownProducer`.
    pub async fn send(&self, outgoing: Vec<Outgoing>) -> PublishReport {
        let ids: Vec<String> = outgoing
            .iter()
            .map(|item| item.event.event_id().to_owned())
            .collect();
        let mut report = PublishReport::default();
        for (id, outcome) in ids.into_iter().zip(self.send_each(outgoing).await) {
            match outcome {
                None => report.delivered.push(id),
                Some(undelivered) => report.undelivered.push(undelivered),
            }
        }
        report
    }

    /// [`send`](Self::send), saying what became of each event, in order: `None` delivered,
    /// `Some` not delivered (and kept in the outbox, or why not). For callers that settle something per
    /// event, such as a dead letter per redriven event, where two items may carry one event id.
    pub async fn send_each(&self, outgoing: Vec<Outgoing>) -> Vec<Option<Undelivered>> {
        let outcomes = self.deliver_outgoing(outgoing.iter()).await;
        let mut failed = Vec::new();
        let mut failed_at = Vec::new();
        for (index, (item, outcome)) in outgoing.iter().zip(outcomes).enumerate() {
            if let EntryOutcome::Failed { failure, sends } = outcome {
                failed_at.push(index);
                failed.push(OutboxRecord::new(
                    item,
                    &self.config.bus_name,
                    Some(failure.code),
                    failure.reason,
                    sends,
                ));
            }
        }
        let mut each: Vec<Option<Undelivered>> = vec![None; outgoing.len()];
        if !failed.is_empty() {
            for (index, undelivered) in failed_at.into_iter().zip(self.keep_in_outbox(failed).await)
            {
                each[index] = Some(undelivered);
            }
        }
        each
    }

    /// Maps and delivers outgoing events; one outcome per item, in order. Items whose producer
    /// the routing table does not know are not sent.
    pub(super) async fn deliver_outgoing<'a>(
        &self,
        items: impl Iterator<Item = &'a Outgoing>,
    ) -> Vec<EntryOutcome> {
        let prefix = &self.config.source_prefix;
        let mapped: Vec<Result<Entry, UnknownProducer>> = items
            .map(|item| Entry::from_outgoing(item, prefix))
            .collect();
        let entries: Vec<Entry> = mapped
            .iter()
            .filter_map(|m| m.as_ref().ok())
            .cloned()
            .collect();
        let mut delivered = self.deliver(&entries).await.into_iter();
        mapped
            .iter()
            .map(|mapped| match mapped {
                Ok(_) => delivered.next().unwrap_or_else(lost_track),
                Err(unknown) => EntryOutcome::Failed {
                    failure: Failure {
                        code: CODE_UNKNOWN_PRODUCER.into(),
                        reason: unknown.to_string(),
                        retryable: false,
                    },
                    sends: 0,
                },
            })
            .collect()
    }
}

#[async_trait]
impl EventBus for EventBridgePublisher {
    async fn publish(&self, events: Vec<Event>) -> PublishReport {
        EventBridgePublisher::publish(self, events).await
    }

    fn refuses(&self, event: &Event) -> Option<String> {
        let entry = Entry::from_event(event, &self.config.source_prefix).ok()?;
        let limit = self.config.max_request_bytes;
        (entry.size() > limit).then(|| {
            format!(
                "{} {} is {} bytes as a PutEvents entry, over the bus's {limit} (EVENTBRIDGE_MAX_REQUEST_BYTES)",
                entry.event_type,
                entry.event_id,
                entry.size()
            )
        })
    }
}
