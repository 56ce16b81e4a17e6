//! Writes a local ledger file holding every kind of workflow, for the console's benchmark
//! (`scripts/bench`: 10,000 workflows) and its browser test (`scripts/test-console`): COUNT
//! workflows a SPACING of minutes apart up to now — completed with fills, failed in execution,
//! dead-lettered, timed out, shadowed, the newest still running — and one whose every field a
//! publisher writes holds markup.
//!
//! Usage: seed_ledger FILE COUNT [SPACING_MINUTES=1]   (FILE must not exist yet)
//!        seed_ledger dynamodb:TABLE COUNT [SPACING_MINUTES=1]
//!          a ledger table in the emulator at AWS_ENDPOINT_URL, created unless it exists (a
//!          stage's ledger as `alchemiser console --stage S` reads it: scripts/test-console's
//!          stage mode plants the markup workflow in the e2e stage's table with COUNT 0, and can
//!          be tried on a table of its own without a deployed stage)

#[path = "../tests/support/seed.rs"]
mod seed;

use std::process::ExitCode;
use std::time::Instant;

use std::sync::Arc;

use alchemiser_ledger::{DynamoDbLedger, LedgerStore, SqliteLedger};
use chrono::{TimeDelta, Utc};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(file), Some(Ok(count))) = (args.first(), args.get(1).map(|c| c.parse::<usize>()))
    else {
        eprintln!("usage: seed_ledger FILE COUNT [SPACING_MINUTES=1]");
        return ExitCode::from(2);
    };
    let spacing = match args.get(2).map(|s| s.parse::<i64>()) {
        None => 1,
        Some(Ok(minutes)) if minutes > 0 => minutes,
        Some(_) => {
            eprintln!("SPACING_MINUTES must be a whole number of minutes above 0");
            return ExitCode::from(2);
        }
    };
    let ledger: Arc<dyn LedgerStore> = if let Some(table) = file.strip_prefix("dynamodb:") {
        let sdk = alchemiser_testkit::emulator_sdk().await;
        let ledger = DynamoDbLedger::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            table,
            std::time::Duration::from_secs(24 * 3600),
        );
        if let Err(error) = ledger.create_table().await {
            // A deployed stage's table is there already: seeded as it is.
            if !format!("{error:?}").contains("ResourceInUseException") {
                eprintln!("cannot create the table {table}: {}", chain(&error));
                return ExitCode::FAILURE;
            }
        }
        Arc::new(ledger)
    } else {
        if std::path::Path::new(file).exists() {
            eprintln!("{file} exists: seed a new file (a second seeding would mix two ledgers)");
            return ExitCode::from(2);
        }
        match SqliteLedger::open(file) {
            Ok(ledger) => Arc::new(ledger),
            Err(error) => {
                eprintln!("cannot create {file}: {}", chain(&error));
                return ExitCode::FAILURE;
            }
        }
    };
    let started = Instant::now();
    let now = Utc::now();
    let ids = seed::seed(
        ledger.as_ref(),
        count,
        now - TimeDelta::minutes(1),
        TimeDelta::minutes(spacing),
    )
    .await;
    let hostile = seed::hostile(ledger.as_ref(), now - TimeDelta::minutes(spacing * 3 + 1)).await;
    println!(
        "{{\"file\": {:?}, \"workflows\": {}, \"hostile\": {:?}, \"newest\": {:?}, \"seconds\": {:.1}}}",
        file,
        ids.len() + 1,
        hostile,
        ids.last().map(|(id, _)| id.as_str()).unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// An error and its causes in one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
