//! `alchemiser routes [--json]`.

use std::process::ExitCode;

use alchemiser_events::{RoutingDocument, DEFAULT_SOURCE_PREFIX};

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
    println!("{:<18} {:<24} CONSUMER", "EVENT TYPE", "SOURCE");
    for route in &document.routes {
        let consumer = route.consumer.map_or("(archive only)", |c| c.as_str());
        println!("{:<18} {:<24} {}", route.event_type, route.source, consumer);
    }
    Ok(ExitCode::SUCCESS)
}
