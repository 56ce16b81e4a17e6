//! `alchemiser publish --stage S --event FILE` and `alchemiser publish --stage S --example TYPE
//! --count N`: send events to a stage's bus with the same publisher the Lambdas use (the
//! `EVENTBRIDGE_*` and `AWS_*` environment tune it). Like the other operator commands it checks
//! the AWS set-up and the bus first: a configuration error is an error, never an event kept in
//! an outbox. Generated examples are marked as samples (`metadata.provenance.sample`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use alchemiser_eventbridge::{
    Entry, EventBridgePublisher, OutboxConfig, Outgoing, PublisherConfig, MAX_ENTRIES_PER_REQUEST,
};
use alchemiser_events::samples::sample_event;
use alchemiser_events::text::printable;
use alchemiser_events::{decode, EventType, ParseError, Provenance};
use alchemiser_operations::Stage;
use anyhow::Context;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;

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
    /// The stage whose bus receives the events (alchemiser-trading-events-STAGE); undelivered
    /// events are kept in its outbox queue (SSM /alchemiser/STAGE/outbox-url) unless
    /// EVENTBRIDGE_OUTBOX_QUEUE_URL or EVENTBRIDGE_OUTBOX_PATH says otherwise.
    #[arg(long, conflicts_with = "bus_name")]
    stage: Option<String>,
    /// Another bus by name (else EVENTBRIDGE_BUS_NAME); one of --stage, --bus-name or
    /// EVENTBRIDGE_BUS_NAME is required.
    #[arg(long)]
    bus_name: Option<String>,
}

fn parse_event_type(text: &str) -> Result<EventType, ParseError> {
    text.parse()
}

/// Publishes and prints `delivered=N failed=M kept=K in X.XXs (Y events/s)`; exit 1 when any
/// event was not delivered.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = PublisherConfig::from_env()?.with_batch_size(usize::from(args.batch_size));
    let events = match (&args.event, args.example) {
        (Some(path), _) => {
            let bytes = super::read_input(path)?;
            vec![from_file(&bytes, path, &config.source_prefix)?]
        }
        (None, Some(event_type)) => (0..args.count)
            .map(|_| {
                let mut event = sample_event(event_type);
                event.header_mut().add_provenance(&Provenance::sample());
                Outgoing::new(event)
            })
            .collect(),
        (None, None) => anyhow::bail!("give --event FILE or --example EVENT_TYPE"),
    };
    let stage: Option<Stage> = args.stage.as_deref().map(str::parse).transpose()?;
    let bus_name = match (&stage, args.bus_name, std::env::var("EVENTBRIDGE_BUS_NAME")) {
        (Some(stage), _, _) => stage.bus_name(),
        (None, Some(bus), _) => bus,
        (None, None, Ok(bus)) if !bus.trim().is_empty() => bus.trim().to_owned(),
        _ => anyhow::bail!(
            "say which bus: --stage STAGE (its bus alchemiser-trading-events-STAGE), --bus-name NAME or EVENTBRIDGE_BUS_NAME"
        ),
    };
    let config = config.with_bus_name(&bus_name);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let sdk = super::aws_config().await?;
        let config = checked(config, &sdk, stage.as_ref()).await?;
        if args.example.is_some() {
            eprintln!(
                "publishing {} sample event(s) to {bus_name}{}: marked metadata.provenance.sample = true and unsigned: the stage's rules deliver them, and its functions refuse them as unsigned (a refused dead letter each) unless the stage accepts unsigned events from their source; execution never trades a sample",
                events.len(),
                stage
                    .as_ref()
                    .map(|s| format!(" (stage {s})"))
                    .unwrap_or_default()
            );
        }
        publish(config, events).await
    })
}

/// What `--event` publishes from `bytes` (the file at `path`): its event validated against the
/// contract, to be sent as written, once it is known to come from a producer of its type (its
/// envelope's `Source`, or for a bare detail its `source_module`'s, with `source_prefix`). An
/// event its consumers would refuse is an error here, not an entry kept in the outbox.
fn from_file(bytes: &[u8], path: &Path, source_prefix: &str) -> anyhow::Result<Outgoing> {
    let received = decode(bytes).map_err(|error| {
        anyhow::anyhow!(
            "invalid event in `{}`: {}",
            path.display(),
            printable(&error.to_string())
        )
    })?;
    let outgoing = Outgoing::forward(received);
    Entry::from_outgoing(&outgoing, source_prefix).map_err(|unknown| {
        anyhow::anyhow!(
            "cannot publish `{}`: {}; nothing was published",
            path.display(),
            printable(&unknown.to_string())
        )
    })?;
    Ok(outgoing)
}

/// `config` once its bus is known to exist (a missing bus, or a refused check, is an error: the
/// events are not sent), with the stage's outbox queue as its outbox when the environment
/// names none. An unreachable endpoint is not decided here: the publisher retries, and keeps
/// what it cannot deliver.
async fn checked(
    config: PublisherConfig,
    sdk: &aws_config::SdkConfig,
    stage: Option<&Stage>,
) -> anyhow::Result<PublisherConfig> {
    if config.verify_bus {
        let events = aws_sdk_eventbridge::Client::new(sdk);
        if let Err(error) = events
            .describe_event_bus()
            .name(&config.bus_name)
            .send()
            .await
        {
            let bus = &config.bus_name;
            let service = error.as_service_error();
            if service.is_some_and(|e| e.is_resource_not_found_exception()) {
                let deploy = stage
                    .map(|s| format!("deploy the stage with `scripts/deploy {s}`"))
                    .unwrap_or_else(|| "check the bus name".into());
                anyhow::bail!(
                    "event bus {bus} does not exist in {}: {deploy}, or check AWS_PROFILE and AWS_REGION; nothing was published",
                    alchemiser_aws::region_name(sdk)
                );
            }
            if let Some(service) = service {
                anyhow::bail!(
                    "cannot check that event bus {bus} exists ({}: {}); if your role may only put events, set EVENTBRIDGE_VERIFY_BUS=false; nothing was published",
                    service.code().unwrap_or("error"),
                    service.message().unwrap_or("no message")
                );
            }
        }
    }
    let outbox_named = ["EVENTBRIDGE_OUTBOX_QUEUE_URL", "EVENTBRIDGE_OUTBOX_PATH"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()));
    let Some(stage) = stage.filter(|_| !outbox_named) else {
        return Ok(config);
    };
    let parameter = stage.outbox_url_parameter();
    let found = aws_sdk_ssm::Client::new(sdk)
        .get_parameter()
        .name(&parameter)
        .send()
        .await
        .ok()
        .and_then(|output| output.parameter?.value)
        .filter(|url| !url.trim().is_empty());
    Ok(match found {
        Some(queue_url) => config.with_outbox(OutboxConfig::Sqs { queue_url }),
        None => {
            eprintln!(
                "note: stage {stage} has no outbox queue ({parameter}); events not delivered are kept in {}",
                config.outbox.location()
            );
            config
        }
    })
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
            "not delivered: {} {} code={} kept_in={}: {}",
            item.event_type,
            item.event_id,
            item.code.as_deref().unwrap_or("-"),
            item.kept_in.as_deref().unwrap_or("NOT KEPT"),
            item.reason
        );
    }
    if undelivered.len() > LISTED {
        eprintln!("... and {} more not delivered", undelivered.len() - LISTED);
    }
    let kept = undelivered.iter().filter(|u| u.kept_in.is_some()).count();
    let stats = publisher.stats();
    eprintln!(
        "bus={bus_name} requests={} failed_requests={} entries_sent={} entry_retries={}",
        stats.requests, stats.failed_requests, stats.entries_sent, stats.entry_retries
    );
    println!(
        "delivered={delivered} failed={} kept={kept} in {:.2}s ({:.0} events/s)",
        undelivered.len(),
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64()
    );
    if kept > 0 {
        eprintln!("resend the events kept in the outbox with `alchemiser outbox drain`");
    }
    Ok(if undelivered.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alchemiser_events::DEFAULT_SOURCE_PREFIX;

    /// `examples/events/*.json`, each with its path.
    fn examples() -> Vec<(PathBuf, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/events");
        let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .map(|path| {
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn every_example_event_is_published_as_it_is_envelope_or_bare_detail() {
        let files = examples();
        assert!(
            files.len() >= 2,
            "examples/events holds {} files",
            files.len()
        );
        for (path, bytes) in files {
            let outgoing =
                from_file(&bytes, &path, DEFAULT_SOURCE_PREFIX).unwrap_or_else(|e| panic!("{e:#}"));
            let entry = Entry::from_outgoing(&outgoing, DEFAULT_SOURCE_PREFIX).unwrap();
            let envelope: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(
                Some(entry.source.as_str()),
                envelope["source"].as_str(),
                "{}: sent under its envelope's Source",
                path.display()
            );
            // Its detail alone (what `publish --event` reads from a detail file) names the same
            // producer: the envelope's Source and the detail's source_module agree.
            let detail = serde_json::to_vec(&envelope["detail"]).unwrap();
            let bare = from_file(&detail, &path, DEFAULT_SOURCE_PREFIX)
                .unwrap_or_else(|e| panic!("its detail alone: {e:#}"));
            assert_eq!(
                Entry::from_outgoing(&bare, DEFAULT_SOURCE_PREFIX)
                    .unwrap()
                    .source,
                entry.source,
                "{}: the detail's source_module names another producer than the Source",
                path.display()
            );
        }
    }

    #[test]
    fn an_event_from_no_producer_of_its_type_is_refused_before_anything_is_sent() {
        let (path, bytes) = examples().remove(0);
        let mut envelope: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        envelope["source"] = serde_json::json!("alchemiser.somebody_else");
        let error = from_file(
            &serde_json::to_vec(&envelope).unwrap(),
            &path,
            DEFAULT_SOURCE_PREFIX,
        )
        .expect_err("an unknown producer");
        let text = error.to_string();
        assert!(
            text.contains("source `alchemiser.somebody_else`")
                && text.contains("nothing was published"),
            "{text}"
        );
    }
}
