//! `alchemiser validate FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use alchemiser_events::decode;
use alchemiser_events::text::printable;

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An EventBridge envelope or a bare event detail (JSON); `-` reads standard input.
    file: PathBuf,
}

/// Prints a one-line summary of a valid event; a clear message and exit 1 otherwise.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bytes = super::read_input(&args.file)?;
    match decode(&bytes) {
        Ok(received) => {
            let header = received.event.header();
            let origin = match &received.envelope {
                Some(meta) => format!(" (EventBridge envelope from {})", printable(&meta.source)),
                None => " (bare detail)".to_owned(),
            };
            println!(
                "valid {} event_id={} correlation_id={}{}",
                received.event.event_type(),
                printable(&header.event_id),
                printable(&header.correlation_id),
                origin
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            // The error quotes what the event holds: shown as text.
            eprintln!(
                "invalid event in `{}`: {}",
                args.file.display(),
                printable(&error.to_string())
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
