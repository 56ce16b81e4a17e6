//! Publisher throughput against LocalStack: N events (default 2,000) to a bus with no rules,
//! batched (10 entries per PutEvents) and one entry per call. Run by `scripts/bench-publisher`,
//! which sets AWS_ENDPOINT_URL and the credentials.
//!
//! Usage: `cargo run -p alchemiser-eventbridge --example bench_publisher -- [EVENTS]`

use std::process::ExitCode;
use std::time::{Duration, Instant};

use alchemiser_eventbridge::samples::sample_event;
use alchemiser_eventbridge::{EventBridgePublisher, OutboxConfig, PublisherConfig};
use alchemiser_events::{Event, EventType};
use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Events per publish call, as `alchemiser publish` does.
const EVENTS_PER_CALL: usize = 500;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let count: usize = match std::env::args().nth(1).map(|n| n.parse()) {
        None => 2_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: bench_publisher [EVENTS]  (a positive whole number)");
            return ExitCode::FAILURE;
        }
    };
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        eprintln!(
            "set AWS_ENDPOINT_URL (e.g. http://127.0.0.1:4566); scripts/bench-publisher does"
        );
        return ExitCode::FAILURE;
    }
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .load()
        .await;
    let admin = aws_sdk_eventbridge::Client::new(&sdk);
    let bus = format!(
        "alchemiser-bench-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    if let Err(error) = admin.create_event_bus().name(&bus).send().await {
        eprintln!(
            "cannot create bus {bus}: {}",
            aws_sdk_eventbridge::error::DisplayErrorContext(error)
        );
        return ExitCode::FAILURE;
    }
    let outbox = std::env::temp_dir().join(format!("{bus}-outbox.jsonl"));
    println!("{count} events (SignalGenerated, ~1 KB each) to LocalStack bus {bus} (no rules)");
    let mut ok = true;
    for (label, batch_size) in [
        ("batched (10 per PutEvents)", 10),
        ("one entry per PutEvents", 1),
    ] {
        let events: Vec<Event> = (0..count)
            .map(|_| sample_event(EventType::SignalGenerated))
            .collect();
        let config = PublisherConfig::default()
            .with_bus_name(&bus)
            .with_batch_size(batch_size)
            .with_outbox(OutboxConfig::File(outbox.clone()));
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
        println!(
            "{label:<28} delivered={delivered} failed={failed} in {:.2}s ({:.0} events/s) requests={} retries={}",
            elapsed.as_secs_f64(),
            delivered as f64 / elapsed.as_secs_f64(),
            stats.requests - warm.requests,
            stats.entry_retries - warm.entry_retries,
        );
        ok &= failed == 0;
    }
    let _ = admin.delete_event_bus().name(&bus).send().await;
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
