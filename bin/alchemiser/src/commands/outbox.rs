//! `alchemiser outbox drain [--stage STAGE [--queue-url URL] | --path FILE]`: resend the events
//! the EventBridge publisher kept there, and remove those delivered. A stage's outbox is drained to
//! its bus, each event checked first as the stage's functions check it: one they would refuse for
//! who made it is moved to the stage's dead-letter queue, never resent.

use std::path::PathBuf;
use std::process::ExitCode;

use alchemiser_eventbridge::{
    DrainAdmission, EventBridgePublisher, OutboxConfig, PublisherConfig, ResendEverything,
};
use alchemiser_events::text::printable;
use alchemiser_operations::{DeadLetterQueue, Stage, StageDrainAdmission};
use anyhow::Context;

/// Arguments of `outbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: OutboxCommand,
}

#[derive(Debug, clap::Subcommand)]
enum OutboxCommand {
    /// Resend the events kept in an outbox; keep (with their attempts and last failure) those that
    /// fail again.
    Drain(DrainArgs),
}

/// Arguments of `outbox drain`.
#[derive(Debug, clap::Args)]
struct DrainArgs {
    /// The stage whose outbox (`/alchemiser/<stage>/outbox-url`) is drained to its bus, every
    /// event checked with the stage's signing keys first.
    #[arg(long, conflicts_with = "path")]
    stage: Option<String>,
    /// A JSON-lines outbox file, one `alchemiser publish` filled on this machine (default: the
    /// configured outbox, EVENTBRIDGE_OUTBOX_PATH).
    #[arg(long, value_name = "FILE", conflicts_with = "queue_url")]
    path: Option<PathBuf>,
    /// The stage's SQS outbox queue, when its parameter cannot be read (needs --stage).
    #[arg(long, value_name = "URL", requires = "stage")]
    queue_url: Option<String>,
    /// The bus to resend to (default: EVENTBRIDGE_BUS_NAME, else alchemiser-trading-events-dev),
    /// whatever bus the kept events were first meant for.
    #[arg(long)]
    bus_name: Option<String>,
}

/// Drains and prints what was resent, set aside and what remains; exit 1 when anything remains
/// or was set aside.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let OutboxCommand::Drain(drain) = args.command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut config = PublisherConfig::from_env()?;
    let (outbox, admission): (OutboxConfig, Box<dyn DrainAdmission>) = match drain.stage {
        Some(stage) => {
            let stage: Stage = stage.parse()?;
            let (outbox, admission) = runtime.block_on(stage_outbox(&stage, drain.queue_url))?;
            config = config.with_bus_name(stage.bus_name());
            (outbox, admission)
        }
        None => {
            let outbox = match drain.path {
                Some(path) => OutboxConfig::File(path),
                None => config.outbox.clone(),
            };
            if let OutboxConfig::Sqs { queue_url } = &outbox {
                anyhow::bail!(
                    "{queue_url} is a stage's outbox: name the stage (`alchemiser outbox drain --stage STAGE`), so that every event is checked with its signing keys before it is resent; nothing was drained"
                );
            }
            (outbox, Box::new(ResendEverything))
        }
    };
    if let Some(bus_name) = drain.bus_name {
        config = config.with_bus_name(bus_name);
    }
    let publisher = EventBridgePublisher::new(config);
    let progress = std::cell::RefCell::new(None::<indicatif::ProgressBar>);
    let report = runtime
        .block_on(
            publisher.drain_reporting(&outbox, admission.as_ref(), |step| {
                let mut bar = progress.borrow_mut();
                let bar = bar.get_or_insert_with(|| match step.total {
                    Some(total) => super::progress_bar(total, 1_000, "events"),
                    None => super::progress_counter("events"),
                });
                bar.set_position(step.settled as u64);
            }),
        )
        .with_context(|| format!("cannot drain {}", outbox.location()))?;
    if let Some(bar) = progress.into_inner() {
        bar.finish_and_clear();
    }
    for id in &report.resent {
        println!("resent {id}");
    }
    for item in &report.set_aside {
        println!(
            "set aside {} {} (moved to the dead-letter queue, see `alchemiser dlq list`): {}",
            item.event_type,
            printable(&item.event_id),
            printable(&item.reason)
        );
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
        "resent={} set_aside={} remaining={} unreadable={} from {} to bus {}",
        report.resent.len(),
        report.set_aside.len(),
        report.remaining.len(),
        report.unreadable,
        report.location,
        publisher.config().bus_name
    );
    Ok(
        if report.remaining.is_empty() && report.set_aside.is_empty() && report.unreadable == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// The stage's SQS outbox (`override_url`, else its parameter) and what its drain admits: what
/// the stage's functions accept, the rest set aside in its dead-letter queue.
async fn stage_outbox(
    stage: &Stage,
    override_url: Option<String>,
) -> anyhow::Result<(OutboxConfig, Box<dyn DrainAdmission>)> {
    let sdk = super::aws_config().await?;
    let queue_url = match override_url {
        Some(url) => url,
        None => {
            let parameter = stage.outbox_url_parameter();
            aws_sdk_ssm::Client::new(&sdk)
                .get_parameter()
                .name(&parameter)
                .send()
                .await
                .ok()
                .and_then(|output| output.parameter?.value)
                .filter(|url| !url.trim().is_empty())
                .with_context(|| format!("cannot read the outbox of stage {stage} ({parameter}): deploy it with `scripts/deploy {stage}`, or pass --queue-url"))?
        }
    };
    let authenticity = alchemiser_operations::stage_authenticity(&sdk, stage).await?;
    let dead_letters = DeadLetterQueue::for_stage(&sdk, stage, None)
        .await
        .map_err(|e| super::aws_failure(&e, stage, "dead-letter queue"))?;
    let admission = StageDrainAdmission::new(authenticity, &sdk, dead_letters.url());
    Ok((OutboxConfig::Sqs { queue_url }, Box::new(admission)))
}
