//! `alchemiser outbox drain [--path FILE | --queue-url URL]`: resend the events the EventBridge
//! publisher parked, and remove those delivered.

use std::path::PathBuf;
use std::process::ExitCode;

use alchemiser_eventbridge::{EventBridgePublisher, OutboxConfig, PublisherConfig};
use anyhow::Context;

/// Arguments of `outbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: OutboxCommand,
}

#[derive(Debug, clap::Subcommand)]
enum OutboxCommand {
    /// Resend parked events; keep (with their attempts and last failure) those that fail again.
    Drain(DrainArgs),
}

/// Arguments of `outbox drain`.
#[derive(Debug, clap::Args)]
struct DrainArgs {
    /// A JSON-lines outbox file (default: the configured outbox, EVENTBRIDGE_OUTBOX_QUEUE_URL
    /// or EVENTBRIDGE_OUTBOX_PATH).
    #[arg(long, value_name = "FILE", conflicts_with = "queue_url")]
    path: Option<PathBuf>,
    /// An SQS outbox queue.
    #[arg(long, value_name = "URL")]
    queue_url: Option<String>,
    /// The bus to resend to (default: EVENTBRIDGE_BUS_NAME, else alchemiser-trading-events-dev),
    /// whatever bus the parked events were first meant for.
    #[arg(long)]
    bus_name: Option<String>,
}

/// Drains and prints what was resent and what remains; exit 1 when anything remains.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let OutboxCommand::Drain(drain) = args.command;
    let mut config = PublisherConfig::from_env()?;
    if let Some(bus_name) = drain.bus_name {
        config = config.with_bus_name(bus_name);
    }
    let outbox = match (drain.path, drain.queue_url) {
        (Some(path), _) => OutboxConfig::File(path),
        (None, Some(queue_url)) => OutboxConfig::Sqs { queue_url },
        (None, None) => config.outbox.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let publisher = EventBridgePublisher::new(config);
    let progress = std::cell::RefCell::new(None::<indicatif::ProgressBar>);
    let report = runtime
        .block_on(publisher.drain_reporting(&outbox, |step| {
            let mut bar = progress.borrow_mut();
            let bar = bar.get_or_insert_with(|| match step.total {
                Some(total) => super::progress_bar(total, 1_000, "events"),
                None => super::progress_counter("events"),
            });
            bar.set_position(step.settled as u64);
        }))
        .with_context(|| format!("cannot drain {}", outbox.location()))?;
    if let Some(bar) = progress.into_inner() {
        bar.finish_and_clear();
    }
    for id in &report.resent {
        println!("resent {id}");
    }
    for item in &report.remaining {
        println!(
            "remaining {} {} code={}: {}",
            item.event_type,
            item.event_id,
            item.code.as_deref().unwrap_or("-"),
            item.reason
        );
    }
    println!(
        "resent={} remaining={} unreadable={} from {} to bus {}",
        report.resent.len(),
        report.remaining.len(),
        report.unreadable,
        report.location,
        publisher.config().bus_name
    );
    Ok(if report.remaining.is_empty() && report.unreadable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
