//! `alchemiser schemas --out DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `schemas`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write `<EventType>.schema.json` files into (created if missing).
    #[arg(long)]
    out: PathBuf,
}

/// Writes one JSON Schema per event type.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create `{}`", args.out.display()))?;
    for (event_type, schema) in alchemiser_events::schemas() {
        let path = args.out.join(format!("{event_type}.schema.json"));
        let text = serde_json::to_string_pretty(&schema)? + "\n";
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
