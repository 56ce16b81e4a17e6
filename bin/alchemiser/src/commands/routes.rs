//! `alchemiser routes [--json]`.

use std::process::ExitCode;

use alchemiser_events::{RoutingDocument, Schedule, DEFAULT_SOURCE_PREFIX};

/// Arguments of `routes`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the JSON the CDK app reads (the checked-in `lib/events/routes.json`).
    #[arg(long)]
    json: bool,
    /// The `Source` prefix publishers use.
    #[arg(long, env = "EVENTBRIDGE_SOURCE_PREFIX", default_value = DEFAULT_SOURCE_PREFIX)]
    source_prefix: String,
}

/// Prints the routing table.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let document = RoutingDocument::new(&args.source_prefix);
    if args.json {
        print!("{}", document.to_pretty_json());
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<18} {:<62} CONSUMERS", "EVENT TYPE", "SOURCE (LANGUAGE)");
    for route in &document.routes {
        let consumers = route
            .consumers
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        for (i, producer) in route.producers.iter().enumerate() {
            let (event_type, consumers) = if i == 0 {
                (route.event_type.as_str(), consumers.as_str())
            } else {
                ("", "")
            };
            let source = format!("{} ({:?})", producer.source, producer.language);
            println!("{event_type:<18} {source:<62} {consumers}");
        }
    }
    println!();
    println!("{:<10} {:<28} MATCHES", "CONSUMER", "RULE (+ -<stage>)");
    for rule in &document.rules {
        let types = rule
            .event_types
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>();
        println!(
            "{:<10} {:<28} {} from {} sources",
            rule.handler,
            rule.name,
            types.join(", "),
            rule.sources.len()
        );
    }
    println!();
    println!(
        "{:<10} {:>7} {:>6}  {:<22} NEEDS",
        "HANDLER", "TIMEOUT", "MEMORY", "SCHEDULE"
    );
    for spec in &document.specs {
        let schedule = match spec.schedule {
            None => "-".to_owned(),
            Some(Schedule::MarketDays) => "market days".to_owned(),
            Some(Schedule::Every { minutes }) => format!("every {minutes} min"),
        };
        let needs = spec
            .needs
            .iter()
            .map(|need| need.as_str())
            .collect::<Vec<_>>();
        println!(
            "{:<10} {:>6}s {:>4}MB  {:<22} {}",
            spec.handler,
            spec.timeout_seconds,
            spec.memory_mb,
            schedule,
            needs.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
