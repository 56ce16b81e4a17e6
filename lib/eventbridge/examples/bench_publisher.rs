//! Publisher throughput against an EventBridge endpoint (LocalStack, or the fake one with a
//! cloud-like round trip of `bench/fake_eventbridge.py`): N events (default 2,000) to a bus with no
//! rules. Run by `scripts/bench-publisher` and `scripts/bench`, which set AWS_ENDPOINT_URL and
//! the credentials.
//!
//! Usage: `cargo run -p alchemiser-eventbridge --example bench_publisher -- [EVENTS] [OPTIONS]`
//!
//! - `--modes batched,sequential,single`: what to measure. `batched`: 10 entries per PutEvents,
//!   `--in-flight` requests at a time (the publisher's default); `sequential`: 10 entries per
//!   PutEvents, one request at a time; `single`: one entry per PutEvents, one at a time.
//! - `--in-flight N`: requests in flight in `batched` mode (default: the publisher's, 8).
//! - `--bus NAME`: publish to this existing bus (e.g. one with a rule to SQS) instead of a fresh
//!   bus without rules, created and deleted here.
//! - `--json FILE`: also write the results as JSON.
//! - `--samples-out FILE`: write the PutEvents entries of N sample events (JSON lines with
//!   `Source`, `DetailType`, `Detail`, `Resources`) and exit: the boto3 benchmark sends the same.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use alchemiser_eventbridge::{
    Entry, EventBridgePublisher, OutboxConfig, PublisherConfig, DEFAULT_MAX_IN_FLIGHT,
    MAX_IN_FLIGHT_LIMIT,
};
use alchemiser_events::samples::sample_event;
use alchemiser_events::{Event, EventType};
use serde_json::json;

/// Events per publish call, as `alchemiser publish` does.
const EVENTS_PER_CALL: usize = 500;
/// The event type benchmarked (~1 KB of Detail).
const EVENT_TYPE: EventType = EventType::SignalGenerated;

/// One measured way of publishing.
struct Mode {
    name: &'static str,
    batch_size: usize,
    in_flight: usize,
}

struct Args {
    count: usize,
    modes: Vec<Mode>,
    bus: Option<String>,
    json: Option<String>,
    samples_out: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 2_000,
        modes: Vec::new(),
        bus: None,
        json: None,
        samples_out: None,
    };
    let mut modes = "batched,single".to_owned();
    let mut in_flight = DEFAULT_MAX_IN_FLIGHT;
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| iter.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--modes" => modes = value("--modes")?,
            "--in-flight" => {
                in_flight = match value("--in-flight")?.parse() {
                    Ok(n) if (1..=MAX_IN_FLIGHT_LIMIT).contains(&n) => n,
                    _ => return Err(format!("--in-flight takes 1 to {MAX_IN_FLIGHT_LIMIT}")),
                }
            }
            "--bus" => args.bus = Some(value("--bus")?),
            "--json" => args.json = Some(value("--json")?),
            "--samples-out" => args.samples_out = Some(value("--samples-out")?),
            n => match n.parse() {
                Ok(n) if n > 0 => args.count = n,
                _ => return Err(format!("unexpected argument `{n}`")),
            },
        }
    }
    for mode in modes.split(',') {
        let (name, batch_size, in_flight) = match mode {
            "batched" => ("batched", 10, in_flight),
            "sequential" => ("sequential", 10, 1),
            "single" => ("single", 1, 1),
            other => {
                return Err(format!(
                    "unknown mode `{other}` (batched, sequential, single)"
                ))
            }
        };
        args.modes.push(Mode {
            name,
            batch_size,
            in_flight,
        });
    }
    Ok(args)
}

fn write_samples(path: &str, count: usize) -> std::io::Result<()> {
    let mut out = String::new();
    for _ in 0..count {
        let entry = Entry::from_event(&sample_event(EVENT_TYPE), "alchemiser")
            .map_err(std::io::Error::other)?;
        let line = json!({
            "Source": entry.source,
            "DetailType": entry.detail_type,
            "Detail": entry.detail,
            "Resources": entry.resources,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    std::fs::write(path, out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("{error}\nusage: bench_publisher [EVENTS] [--modes batched,sequential,single] [--in-flight N] [--bus NAME] [--json FILE] [--samples-out FILE]");
            return ExitCode::FAILURE;
        }
    };
    let count = args.count;
    if let Some(path) = &args.samples_out {
        return match write_samples(path, count) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("cannot write {path}: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        eprintln!(
            "set AWS_ENDPOINT_URL (e.g. http://127.0.0.1:4566); scripts/bench-publisher does"
        );
        return ExitCode::FAILURE;
    };
    let sdk = alchemiser_aws::load_sdk_config().await;
    let admin = aws_sdk_eventbridge::Client::new(&sdk);
    let (bus, own_bus) = match &args.bus {
        Some(bus) => (bus.clone(), false),
        None => (
            format!(
                "alchemiser-bench-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            true,
        ),
    };
    if own_bus {
        if let Err(error) = admin.create_event_bus().name(&bus).send().await {
            eprintln!(
                "cannot create bus {bus}: {}",
                aws_sdk_eventbridge::error::DisplayErrorContext(error)
            );
            return ExitCode::FAILURE;
        }
    }
    let outbox = std::env::temp_dir().join(format!("{bus}-outbox.jsonl"));
    let rules = if own_bus { "no rules" } else { "as given" };
    println!("{count} events ({EVENT_TYPE}, ~1 KB each) to bus {bus} ({rules}) at {endpoint}");
    let mut ok = true;
    let mut results = Vec::new();
    for mode in &args.modes {
        let config = PublisherConfig::default()
            .with_bus_name(&bus)
            .with_batch_size(mode.batch_size)
            .with_max_in_flight(mode.in_flight)
            .with_outbox(OutboxConfig::File(outbox.clone()));
        let label = match (mode.batch_size, mode.in_flight) {
            (1, _) => "one entry per PutEvents".to_owned(),
            (n, 1) => format!("batched ({n} per PutEvents), sequential"),
            (n, k) => format!("batched ({n} per PutEvents), {k} in flight"),
        };
        let events: Vec<Event> = (0..count).map(|_| sample_event(EVENT_TYPE)).collect();
        let publisher = EventBridgePublisher::new(config);
        // Warm up: client creation and the DescribeEventBus check are not part of the figure.
        let _ = publisher
            .publish(vec![sample_event(EventType::WorkflowStarted)])
            .await;
        let warm = publisher.stats();
        let started = Instant::now();
        let mut delivered = 0;
        let mut failed = 0;
        let mut events = events;
        while !events.is_empty() {
            let rest = events.split_off(events.len().min(EVENTS_PER_CALL));
            let report = publisher.publish(events).await;
            delivered += report.delivered.len();
            failed += report.undelivered.len();
            events = rest;
        }
        let elapsed = started.elapsed().max(Duration::from_micros(1));
        let stats = publisher.stats();
        let rate = delivered as f64 / elapsed.as_secs_f64();
        println!(
            "{label:<44} delivered={delivered} failed={failed} in {:.2}s ({rate:.0} events/s) requests={} retries={}",
            elapsed.as_secs_f64(),
            stats.requests - warm.requests,
            stats.entry_retries - warm.entry_retries,
        );
        results.push(json!({
            "mode": mode.name,
            "batch_size": mode.batch_size,
            "in_flight": mode.in_flight,
            "events": count,
            "delivered": delivered,
            "failed": failed,
            "seconds": elapsed.as_secs_f64(),
            "events_per_s": rate,
            "requests": stats.requests - warm.requests,
            "retries": stats.entry_retries - warm.entry_retries,
        }));
        ok &= failed == 0;
    }
    if own_bus {
        let _ = admin.delete_event_bus().name(&bus).send().await;
    }
    if let Some(path) = &args.json {
        let doc = json!({ "bus": bus, "results": results });
        if let Err(error) = std::fs::write(path, doc.to_string()) {
            eprintln!("cannot write {path}: {error}");
            ok = false;
        }
    }
    if ok {
        let _ = std::fs::remove_file(&outbox);
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "some events were not delivered; they are in {}",
            outbox.display()
        );
        ExitCode::FAILURE
    }
}
