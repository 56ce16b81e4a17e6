//! The publisher: batches events into PutEvents calls, resends what a resend can fix, and parks
//! everything else in the outbox. Every event ends up delivered or reported (and parked).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use alchemiser_bus::{PublishReport, Undelivered};
use alchemiser_events::{Event, EventType};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::config::{OutboxConfig, PublisherConfig};
use crate::entry::{plan_batches, Entry};
use crate::outbox::{FileOutbox, OutboxError, OutboxLine, OutboxRecord, SqsOutbox};
use crate::retry::{backoff_ceiling, full_jitter, is_retryable_entry_code, Failure};

/// Local error code of an entry larger than the request limit.
pub const CODE_ENTRY_TOO_LARGE: &str = "EntryTooLarge";
/// Local error code of entries not sent because the publish deadline had passed.
pub const CODE_DEADLINE: &str = "DeadlineExceeded";

/// Outbox records resent per delivery round of a drain (each round has its own deadline).
const DRAIN_CHUNK: usize = 100;
/// How long a drain hides the SQS messages it works on from other consumers.
const DRAIN_VISIBILITY: Duration = Duration::from_secs(300);
/// How long a record that failed again during an SQS drain stays invisible.
const DRAIN_REPLACE_DELAY: Duration = Duration::from_secs(60);
/// Most SQS messages one drain looks at (a bound, so a drain always ends).
const DRAIN_MAX_MESSAGES: usize = 100_000;

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
    /// Undelivered events written to the outbox.
    pub parked: u64,
    /// Undelivered events the outbox could not take (reported loudly; see the log).
    pub park_failures: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    failed_requests: AtomicU64,
    entries_sent: AtomicU64,
    entry_retries: AtomicU64,
    delivered: AtomicU64,
    undelivered: AtomicU64,
    parked: AtomicU64,
    park_failures: AtomicU64,
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

/// What became of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EntryOutcome {
    Delivered,
    Failed { failure: Failure, sends: u32 },
}

/// The result of draining an outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// The outbox drained (`file:PATH` or `sqs:URL`).
    pub location: String,
    /// Ids of the events resent and delivered (removed from the outbox).
    pub resent: Vec<String>,
    /// Events still in the outbox, with the reason of their last failure.
    pub remaining: Vec<Undelivered>,
    /// Lines or messages that are not readable outbox records (left in place).
    pub unreadable: usize,
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
            parked: get(&c.parked),
            park_failures: get(&c.park_failures),
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
                let http_client = aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                    .build_https();
                let timeouts = TimeoutConfig::builder()
                    .connect_timeout(self.config.connect_timeout)
                    .operation_attempt_timeout(self.config.attempt_timeout)
                    .operation_timeout(self.config.attempt_timeout)
                    .build();
                let sdk = loader
                    .http_client(http_client)
                    .retry_config(RetryConfig::standard().with_max_attempts(1))
                    .timeout_config(timeouts)
                    .load()
                    .await;
                Clients {
                    events: aws_sdk_eventbridge::Client::new(&sdk),
                    sqs: aws_sdk_sqs::Client::new(&sdk),
                }
            })
            .await
    }

    /// Publishes `events`: every one is delivered, or reported undelivered with its code and
    /// reason and parked in the outbox (`parked_at`). Never panics; returns within about
    /// `deadline` plus one outbox write.
    pub async fn publish(&self, events: Vec<Event>) -> PublishReport {
        let entries: Vec<Entry> = events
            .iter()
            .map(|event| Entry::from_event(event, &self.config.source_prefix))
            .collect();
        let outcomes = self.deliver(&entries).await;
        let mut report = PublishReport::default();
        let mut failed = Vec::new();
        for ((event, entry), outcome) in events.iter().zip(&entries).zip(outcomes) {
            match outcome {
                EntryOutcome::Delivered => report.delivered.push(entry.event_id.clone()),
                EntryOutcome::Failed { failure, sends } => failed.push(OutboxRecord::new(
                    event,
                    &self.config.bus_name,
                    Some(failure.code),
                    failure.reason,
                    sends,
                )),
            }
        }
        if !failed.is_empty() {
            report.undelivered = self.park(failed).await;
        }
        report
    }

    /// Writes records to the configured outbox and reports them as undelivered; a failed write
    /// is said in each reason (the event is NOT parked) and the event's JSON is logged.
    async fn park(&self, records: Vec<OutboxRecord>) -> Vec<Undelivered> {
        let location = self.config.outbox.location();
        let result: Result<(), (Vec<String>, OutboxError)> = match &self.config.outbox {
            OutboxConfig::File(path) => FileOutbox::new(path)
                .append(&records)
                .await
                .map_err(|error| (Vec::new(), error)),
            OutboxConfig::Sqs { queue_url } => {
                let clients = self.clients().await;
                SqsOutbox::new(clients.sqs.clone(), queue_url)
                    .send(&records)
                    .await
            }
        };
        tracing::warn!(
            count = records.len(),
            outbox = %location,
            first_reason = %records.first().map(|r| r.reason.as_str()).unwrap_or_default(),
            "events not delivered to EventBridge"
        );
        let (sent_before_error, error) = match result {
            Ok(()) => (None, None),
            Err((sent, error)) => (Some(sent), Some(error)),
        };
        records
            .into_iter()
            .map(|record| {
                let parked = match &sent_before_error {
                    None => true,
                    Some(sent) => sent.contains(&record.event_id),
                };
                let event_type = record.event_type.parse().unwrap_or(EventType::WorkflowFailed);
                add(&self.counters.undelivered, 1);
                if parked {
                    add(&self.counters.parked, 1);
                    tracing::debug!(
                        event_id = %record.event_id,
                        code = record.code.as_deref().unwrap_or(""),
                        reason = %record.reason,
                        outbox = %location,
                        "event not delivered to EventBridge; parked in the outbox"
                    );
                    Undelivered {
                        event_id: record.event_id,
                        event_type,
                        code: record.code,
                        reason: record.reason,
                        parked_at: Some(location.clone()),
                    }
                } else {
                    add(&self.counters.park_failures, 1);
                    let error = error
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    tracing::error!(
                        event_id = %record.event_id,
                        event = %record.to_line(),
                        %error,
                        "event not delivered AND NOT PARKED: the outbox write failed; this log line holds the event"
                    );
                    Undelivered {
                        event_id: record.event_id,
                        event_type,
                        code: record.code,
                        reason: format!(
                            "{}; the event is NOT parked: writing it to the outbox {location} failed: {error} (its JSON is in the error log)",
                            record.reason
                        ),
                        parked_at: None,
                    }
                }
            })
            .collect()
    }

    /// Sends entries with batching and retries; says what became of each, index-aligned.
    async fn deliver(&self, entries: &[Entry]) -> Vec<EntryOutcome> {
        let config = &self.config;
        let deadline = Instant::now() + config.deadline;
        let mut outcomes: Vec<Option<EntryOutcome>> = vec![None; entries.len()];
        let mut sends = vec![0u32; entries.len()];
        let sizes: Vec<usize> = entries.iter().map(Entry::size).collect();

        let mut pending = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            if sizes[index] > config.max_request_bytes {
                outcomes[index] = Some(EntryOutcome::Failed {
                    failure: Failure {
                        code: CODE_ENTRY_TOO_LARGE.into(),
                        reason: format!(
                            "event {} ({}) is {} bytes by the PutEvents entry-size formula, over the {}-byte request limit \
                             (EVENTBRIDGE_MAX_REQUEST_BYTES); it was not sent: shrink the event or raise the limit if the bus allows",
                            entry.event_id, entry.event_type, sizes[index], config.max_request_bytes
                        ),
                        retryable: false,
                    },
                    sends: 0,
                });
            } else {
                pending.push(index);
            }
        }
        if pending.is_empty() {
            return finish(outcomes);
        }

        let clients = self.clients().await;
        if config.verify_bus {
            if let Err(failure) = self.ensure_bus(clients, deadline).await {
                for index in pending {
                    outcomes[index] = Some(EntryOutcome::Failed {
                        failure: failure.clone(),
                        sends: 0,
                    });
                }
                return finish(outcomes);
            }
        }

        let mut last_failure: Vec<Option<Failure>> = vec![None; entries.len()];
        let mut round = 0u32;
        loop {
            round += 1;
            let pending_sizes: Vec<usize> = pending.iter().map(|&i| sizes[i]).collect();
            let (batches, _) =
                plan_batches(&pending_sizes, config.batch_size, config.max_request_bytes);
            let mut retry = Vec::new();
            for batch in batches {
                let indices: Vec<usize> = batch.iter().map(|&b| pending[b]).collect();
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    for &index in &indices {
                        last_failure[index].get_or_insert_with(|| deadline_failure(config));
                        retry.push(index);
                    }
                    continue;
                }
                for &index in &indices {
                    sends[index] += 1;
                }
                add(&self.counters.requests, 1);
                add(&self.counters.entries_sent, indices.len());
                if round > 1 {
                    add(&self.counters.entry_retries, indices.len());
                }
                let request = clients
                    .events
                    .put_events()
                    .set_entries(Some(
                        indices
                            .iter()
                            .map(|&i| entries[i].to_sdk(&config.bus_name))
                            .collect(),
                    ))
                    .send();
                let failure = match tokio::time::timeout(remaining, request).await {
                    Err(_) => {
                        // Cut off by the deadline: keep each entry's earlier (more telling)
                        // failure when it has one; they are all given up below.
                        let cut = format!(
                            "PutEvents was still waiting when the publish deadline ({:?}) passed",
                            config.deadline
                        );
                        for &index in &indices {
                            let failure = match last_failure[index].take() {
                                Some(earlier) => Failure {
                                    reason: format!(
                                        "{}; the resend was cut off: {cut}",
                                        earlier.reason
                                    ),
                                    ..earlier
                                },
                                None => Failure {
                                    code: "Timeout".into(),
                                    reason: cut.clone(),
                                    retryable: true,
                                },
                            };
                            last_failure[index] = Some(failure);
                            retry.push(index);
                        }
                        add(&self.counters.failed_requests, 1);
                        continue;
                    }
                    Ok(Err(error)) => Some(Failure::from_sdk("PutEvents", &error)),
                    Ok(Ok(output)) => {
                        let results = output.entries();
                        for (position, &index) in indices.iter().enumerate() {
                            match results.get(position) {
                                Some(result) if result.error_code().is_some() => {
                                    let code = result.error_code().unwrap_or_default().to_owned();
                                    let failure = Failure {
                                        reason: format!(
                                            "PutEvents rejected event {}: {code}: {}",
                                            entries[index].event_id,
                                            result.error_message().unwrap_or("no message")
                                        ),
                                        retryable: is_retryable_entry_code(&code),
                                        code,
                                    };
                                    if failure.retryable {
                                        last_failure[index] = Some(failure);
                                        retry.push(index);
                                    } else {
                                        outcomes[index] = Some(EntryOutcome::Failed {
                                            failure,
                                            sends: sends[index],
                                        });
                                    }
                                }
                                Some(result) if result.event_id().is_some() => {
                                    outcomes[index] = Some(EntryOutcome::Delivered);
                                }
                                // No id and no error code, or a short response: the outcome is
                                // unknown, so send it again (at least once beats lost).
                                _ => {
                                    last_failure[index] = Some(Failure {
                                        code: "UnknownEntryResult".into(),
                                        reason: format!(
                                            "PutEvents answered {} results for {} entries, without an id for event {}",
                                            results.len(),
                                            indices.len(),
                                            entries[index].event_id
                                        ),
                                        retryable: true,
                                    });
                                    retry.push(index);
                                }
                            }
                        }
                        None
                    }
                };
                if let Some(failure) = failure {
                    add(&self.counters.failed_requests, 1);
                    tracing::debug!(code = %failure.code, reason = %failure.reason, "PutEvents request failed");
                    for &index in &indices {
                        if failure.retryable {
                            last_failure[index] = Some(failure.clone());
                            retry.push(index);
                        } else {
                            outcomes[index] = Some(EntryOutcome::Failed {
                                failure: failure.clone(),
                                sends: sends[index],
                            });
                        }
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            let sleep = full_jitter(backoff_ceiling(
                round,
                config.base_backoff,
                config.max_backoff,
            ));
            let give_up = if round >= config.max_attempts {
                Some(format!(
                    "gave up after {round} attempts (EVENTBRIDGE_MAX_ATTEMPTS)"
                ))
            } else if Instant::now() + sleep >= deadline {
                Some(format!(
                    "gave up after {round} attempts: the publish deadline of {:?} (EVENTBRIDGE_DEADLINE_MS) would pass before the next",
                    config.deadline
                ))
            } else {
                None
            };
            if let Some(why) = give_up {
                for index in retry {
                    let last = last_failure[index]
                        .take()
                        .unwrap_or_else(|| deadline_failure(config));
                    outcomes[index] = Some(EntryOutcome::Failed {
                        failure: Failure {
                            reason: format!("{}; {why}", last.reason),
                            ..last
                        },
                        sends: sends[index],
                    });
                }
                break;
            }
            tokio::time::sleep(sleep).await;
            pending = retry;
        }
        let outcomes = finish(outcomes);
        let delivered = outcomes
            .iter()
            .filter(|o| matches!(o, EntryOutcome::Delivered))
            .count();
        add(&self.counters.delivered, delivered);
        outcomes
    }

    /// Checks once (per publisher) that the bus exists; only success is remembered, so a bus
    /// created later is found on the next publish.
    async fn ensure_bus(&self, clients: &Clients, deadline: Instant) -> Result<(), Failure> {
        let config = &self.config;
        self.bus_checked
            .get_or_try_init(|| async {
                let mut attempt = 0u32;
                loop {
                    attempt += 1;
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let request = clients
                        .events
                        .describe_event_bus()
                        .name(&config.bus_name)
                        .send();
                    let failure = match tokio::time::timeout(remaining, request).await {
                        Ok(Ok(_)) => return Ok(()),
                        Ok(Err(error)) => {
                            let not_found = error
                                .as_service_error()
                                .is_some_and(|e| e.is_resource_not_found_exception());
                            let failure = Failure::from_sdk("DescribeEventBus", &error);
                            if not_found {
                                return Err(Failure {
                                    code: "ResourceNotFoundException".into(),
                                    reason: format!(
                                        "event bus `{bus}` does not exist (DescribeEventBus: ResourceNotFoundException); \
                                         deploy it (infra/) or create it (`aws events create-event-bus --name {bus}`), \
                                         or set EVENTBRIDGE_BUS_NAME to an existing bus",
                                        bus = config.bus_name
                                    ),
                                    retryable: false,
                                });
                            }
                            if !failure.retryable {
                                return Err(Failure {
                                    reason: format!(
                                        "could not check that event bus `{}` exists: {}; if the role may only put events, \
                                         set EVENTBRIDGE_VERIFY_BUS=false",
                                        config.bus_name, failure.reason
                                    ),
                                    ..failure
                                });
                            }
                            failure
                        }
                        Err(_) => Failure {
                            code: "Timeout".into(),
                            reason: "DescribeEventBus did not answer before the publish deadline".into(),
                            retryable: true,
                        },
                    };
                    let sleep =
                        full_jitter(backoff_ceiling(attempt, config.base_backoff, config.max_backoff));
                    if attempt >= config.max_attempts || Instant::now() + sleep >= deadline {
                        return Err(Failure {
                            reason: format!(
                                "could not check that event bus `{}` exists after {attempt} attempts: {}",
                                config.bus_name, failure.reason
                            ),
                            ..failure
                        });
                    }
                    tokio::time::sleep(sleep).await;
                }
            })
            .await
            .map(|_| ())
    }

    /// Resends the events parked in `outbox` to this publisher's bus (whatever bus a record
    /// names: it keeps `bus_name` for reference) and removes those delivered; the others stay,
    /// with their attempts and last failure updated. Unreadable lines/messages are left untouched.
    pub async fn drain(&self, outbox: &OutboxConfig) -> Result<DrainReport, OutboxError> {
        match outbox {
            OutboxConfig::File(path) => self.drain_file(&FileOutbox::new(path), outbox).await,
            OutboxConfig::Sqs { queue_url } => {
                let clients = self.clients().await;
                self.drain_sqs(&SqsOutbox::new(clients.sqs.clone(), queue_url), outbox)
                    .await
            }
        }
    }

    async fn drain_file(
        &self,
        file: &FileOutbox,
        outbox: &OutboxConfig,
    ) -> Result<DrainReport, OutboxError> {
        let _lock = file.lock().await?;
        let lines = file.read()?;
        let mut report = DrainReport {
            location: outbox.location(),
            ..DrainReport::default()
        };
        let mut kept: Vec<OutboxLine> = Vec::new();
        let mut work: Vec<(OutboxRecord, Event)> = Vec::new();
        for line in lines {
            match line {
                OutboxLine::Record(record) => match record.decode_event() {
                    Ok(event) => work.push((record, event)),
                    Err(reason) => {
                        report.unreadable += 1;
                        tracing::warn!(%reason, "outbox record left in place");
                        kept.push(OutboxLine::Record(record));
                    }
                },
                unreadable @ OutboxLine::Unreadable(_) => {
                    report.unreadable += 1;
                    kept.push(unreadable);
                }
            }
        }
        for chunk in work.chunks(DRAIN_CHUNK) {
            for (record, delivered) in self.resend(chunk).await {
                match delivered {
                    None => report.resent.push(record.event_id.clone()),
                    Some(updated) => {
                        report.remaining.push(remaining(&updated, &report.location));
                        kept.push(OutboxLine::Record(updated));
                    }
                }
            }
        }
        file.rewrite(&kept)?;
        Ok(report)
    }

    async fn drain_sqs(
        &self,
        queue: &SqsOutbox,
        outbox: &OutboxConfig,
    ) -> Result<DrainReport, OutboxError> {
        let mut report = DrainReport {
            location: outbox.location(),
            ..DrainReport::default()
        };
        let mut seen = 0usize;
        let mut handled: HashSet<String> = HashSet::new();
        while seen < DRAIN_MAX_MESSAGES {
            let messages = queue.receive(DRAIN_VISIBILITY).await?;
            if messages.is_empty() {
                break;
            }
            seen += messages.len();
            let mut work = Vec::new();
            for message in messages {
                match message.line {
                    OutboxLine::Record(record) => {
                        // Seen in this drain already (a duplicate, or a replaced record come
                        // back early): leave it for the next drain.
                        if handled.contains(&record.event_id) {
                            continue;
                        }
                        match record.decode_event() {
                            Ok(event) => work.push((message.receipt_handle, record, event)),
                            Err(_) => report.unreadable += 1,
                        }
                    }
                    OutboxLine::Unreadable(_) => report.unreadable += 1,
                }
            }
            if work.is_empty() {
                break;
            }
            let chunk: Vec<(OutboxRecord, Event)> = work
                .iter()
                .map(|(_, record, event)| (record.clone(), event.clone()))
                .collect();
            let results = self.resend(&chunk).await;
            for ((receipt, _, _), (record, outcome)) in work.iter().zip(results) {
                handled.insert(record.event_id.clone());
                match outcome {
                    None => {
                        // Delivered: only now may the message go.
                        queue.delete(receipt).await?;
                        report.resent.push(record.event_id.clone());
                    }
                    Some(updated) => {
                        // Kept with its new attempt count, out of sight for the rest of this
                        // drain so that it is not retried in a loop.
                        queue
                            .replace(receipt, &updated, DRAIN_REPLACE_DELAY)
                            .await?;
                        report.remaining.push(remaining(&updated, &report.location));
                    }
                }
            }
        }
        Ok(report)
    }

    /// Resends parked events; for each, `None` when delivered, else the updated record.
    async fn resend<'a>(
        &self,
        work: &'a [(OutboxRecord, Event)],
    ) -> Vec<(&'a OutboxRecord, Option<OutboxRecord>)> {
        let entries: Vec<Entry> = work
            .iter()
            .map(|(_, event)| Entry::from_event(event, &self.config.source_prefix))
            .collect();
        let outcomes = self.deliver(&entries).await;
        work.iter()
            .zip(outcomes)
            .map(|((record, _), outcome)| match outcome {
                EntryOutcome::Delivered => (record, None),
                EntryOutcome::Failed { failure, sends } => (
                    record,
                    Some(
                        record
                            .clone()
                            .failed_again(Some(failure.code), failure.reason, sends),
                    ),
                ),
            })
            .collect()
    }
}

fn remaining(record: &OutboxRecord, location: &str) -> Undelivered {
    Undelivered {
        event_id: record.event_id.clone(),
        event_type: record
            .event_type
            .parse()
            .unwrap_or(EventType::WorkflowFailed),
        code: record.code.clone(),
        reason: record.reason.clone(),
        parked_at: Some(location.to_owned()),
    }
}

fn deadline_failure(config: &PublisherConfig) -> Failure {
    Failure {
        code: CODE_DEADLINE.into(),
        reason: format!(
            "not sent: the publish deadline of {:?} (EVENTBRIDGE_DEADLINE_MS) had passed",
            config.deadline
        ),
        retryable: true,
    }
}

fn finish(outcomes: Vec<Option<EntryOutcome>>) -> Vec<EntryOutcome> {
    outcomes
        .into_iter()
        .map(|outcome| {
            outcome.unwrap_or_else(|| EntryOutcome::Failed {
                failure: Failure {
                    code: "Internal".into(),
                    reason: "the publisher lost track of this entry (a bug); it was parked".into(),
                    retryable: false,
                },
                sends: 0,
            })
        })
        .collect()
}
