//! `alchemiser publish --event FILE` and `alchemiser publish --example TYPE --count N`: send
//! events to EventBridge with the same publisher the Lambdas use (configuration from the
//! `EVENTBRIDGE_*` and `AWS_*` environment).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use alchemiser_eventbridge::{
    EventBridgePublisher, Outgoing, PublisherConfig, MAX_ENTRIES_PER_REQUEST,
};
use alchemiser_events::samples::sample_event;
use alchemiser_events::{decode, EventType, ParseError};
use anyhow::Context;

/// Events per publish call: each call has its own deadline and keeps the publisher's
/// `max_in_flight` PutEvents requests going; the progress bar moves per call.
const EVENTS_PER_CALL: usize = 500;
/// Undelivered events listed one by one; beyond this only the count is printed.
const LISTED: usize = 20;

/// Arguments of `publish`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An EventBridge envelope or bare event detail (JSON) to publish; `-` reads standard input.
    /// It is validated against the contract first, then sent as written: the detail unchanged,
    /// an envelope's `source` kept (it must be a producer of the type).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "example",
        conflicts_with = "example"
    )]
    event: Option<PathBuf>,
    /// Publish generated valid events of this type (fresh ids), e.g. `SignalGenerated`.
    #[arg(long, value_name = "EVENT_TYPE", value_parser = parse_event_type)]
    example: Option<EventType>,
    /// How many events `--example` generates.
    #[arg(long, default_value_t = 1, requires = "example")]
    count: usize,
    /// Entries per PutEvents call (1..=10); 1 sends each event alone (for benchmarks).
    #[arg(long, default_value_t = MAX_ENTRIES_PER_REQUEST as u8, value_parser = clap::value_parser!(u8).range(1..=10))]
    batch_size: u8,
    /// The event bus (default: EVENTBRIDGE_BUS_NAME, else alchemiser-trading-events-dev).
    #[arg(long)]
    bus_name: Option<String>,
}

fn parse_event_type(text: &str) -> Result<EventType, ParseError> {
    text.parse()
}

/// Publishes and prints `delivered=N failed=M parked=K in X.XXs (Y events/s)`; exit 1 when any
/// event was not delivered.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = PublisherConfig::from_env()?.with_batch_size(usize::from(args.batch_size));
    if let Some(bus_name) = args.bus_name {
        config = config.with_bus_name(bus_name);
    }
    let events = match (&args.event, args.example) {
        (Some(path), _) => {
            let bytes = super::read_input(path)?;
            let received = decode(&bytes).map_err(|error| {
                anyhow::anyhow!("invalid event in `{}`: {error}", path.display())
            })?;
            vec![Outgoing::forward(received)]
        }
        (None, Some(event_type)) => (0..args.count)
            .map(|_| Outgoing::new(sample_event(event_type)))
            .collect(),
        (None, None) => anyhow::bail!("give --event FILE or --example EVENT_TYPE"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(publish(config, events))
}

async fn publish(config: PublisherConfig, events: Vec<Outgoing>) -> anyhow::Result<ExitCode> {
    let total = events.len();
    let bus_name = config.bus_name.clone();
    let publisher = EventBridgePublisher::new(config);
    let progress = super::progress_bar(total, 2 * EVENTS_PER_CALL, "events");
    let started = Instant::now();
    let mut delivered = 0usize;
    let mut undelivered = Vec::new();
    let mut batch = events;
    while !batch.is_empty() {
        let rest = batch.split_off(batch.len().min(EVENTS_PER_CALL));
        let count = batch.len() as u64;
        let report = publisher.send(batch).await;
        delivered += report.delivered.len();
        undelivered.extend(report.undelivered);
        progress.inc(count);
        batch = rest;
    }
    let elapsed = started.elapsed().max(Duration::from_micros(1));
    progress.finish_and_clear();

    for item in undelivered.iter().take(LISTED) {
        eprintln!(
            "not delivered: {} {} code={} parked_at={}: {}",
            item.event_type,
            item.event_id,
            item.code.as_deref().unwrap_or("-"),
            item.parked_at.as_deref().unwrap_or("NOT PARKED"),
            item.reason
        );
    }
    if undelivered.len() > LISTED {
        eprintln!("... and {} more not delivered", undelivered.len() - LISTED);
    }
    let parked = undelivered.iter().filter(|u| u.parked_at.is_some()).count();
    let stats = publisher.stats();
    eprintln!(
        "bus={bus_name} requests={} failed_requests={} entries_sent={} entry_retries={}",
        stats.requests, stats.failed_requests, stats.entries_sent, stats.entry_retries
    );
    println!(
        "delivered={delivered} failed={} parked={parked} in {:.2}s ({:.0} events/s)",
        undelivered.len(),
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64()
    );
    if parked > 0 {
        eprintln!("resend parked events with `alchemiser outbox drain`");
    }
    Ok(if undelivered.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
