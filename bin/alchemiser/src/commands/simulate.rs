//! `alchemiser simulate --workflows N --seed S [--json]`: the whole backbone under simulated
//! cloud faults, then the order invariants checked; exits 1 when one is broken.

use std::process::ExitCode;

use alchemiser_simulation::{simulate, Config};

/// Arguments of `simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Workflows to run.
    #[arg(long, default_value_t = 1000)]
    workflows: usize,
    /// The dice's seed: the same seed, the same run (default: a new one each run, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// The report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the simulation and prints its report.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    // Simulation time starts at a fixed instant, so a seed replays exactly.
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-05T14:35:00Z")?.to_utc();
    let report = simulate(Config::new(args.workflows, seed), start);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if !report.passed() {
        eprintln!(
            "rerun this case with: alchemiser simulate --workflows {} --seed {seed}",
            args.workflows
        );
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
