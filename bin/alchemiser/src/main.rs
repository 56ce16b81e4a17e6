//! `alchemiser`: the command-line tool. Thin: it parses arguments, picks adapters and prints;
//! the work is done by the library crates.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The Alchemiser event backbone: run a trading workflow locally, validate and inspect events.
#[derive(Debug, Parser)]
#[command(name = "alchemiser", version, about, long_about = None)]
struct Cli {
    /// Print the whole story of an error (every cause, the AWS providers' answers).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one whole workflow locally: in-memory bus, paper broker, no AWS account needed.
    Run(commands::run::Args),
    /// Run one function's handler on a captured event, as its Lambda would.
    Invoke(commands::invoke::Args),
    /// Check an EventBridge envelope or bare event detail against the contract.
    Validate(commands::validate::Args),
    /// Print the routing table (event type → source → consuming handler).
    Routes(commands::routes::Args),
    /// Write one JSON Schema file per event type.
    Schemas(commands::schemas::Args),
    /// Publish events to Amazon EventBridge (a file, or generated examples).
    Publish(commands::publish::Args),
    /// Work with the EventBridge publisher's outbox of undelivered events.
    Outbox(commands::outbox::Args),
    /// Replay a stage's event archive to its bus (after an outage).
    Replay(commands::replay::Args),
    /// List, show and redrive a stage's dead letters.
    Dlq(commands::dlq::Args),
    /// List a stage's workflows, or show one: its events, timings, failure and dead letters.
    Workflows(commands::workflows::Args),
    /// Halt a stage's trading now (its kill switch), or show the switch's history.
    Halt(commands::halt::HaltArgs),
    /// Resume a halted stage's trading.
    Resume(commands::halt::ResumeArgs),
    /// Sign an event with a stage producer's key, as its function would (tests of a deployed stage).
    Sign(commands::sign::Args),
    /// Compare what shadow consumers would have done with what the live owner did.
    Shadow(commands::shadow::Args),
    /// Open the read-only operator console: every workflow, plan, order and dead letter in a
    /// browser (the local ledger, or a stage's with --stage).
    Console(commands::console::Args),
    /// Run many workflows under simulated cloud faults and check the order invariants.
    Simulate(commands::simulate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A simulation's thousands of injected faults each log a warning; its report says it all.
    let quiet = matches!(cli.command, Command::Simulate(_));
    init_logging(match (cli.verbose, quiet) {
        (true, _) => "info",
        (false, true) => "off",
        // The SDK warns about every credential and region provider it tries (instance metadata
        // on a laptop, ...); the set-up check says in one line what is missing, `-v` shows them.
        (false, false) => "warn,aws_config=error",
    });
    let result = match cli.command {
        Command::Run(args) => block_on(commands::run::run(args)),
        Command::Invoke(args) => block_on(commands::invoke::run(args)),
        Command::Validate(args) => commands::validate::run(args),
        Command::Routes(args) => commands::routes::run(args),
        Command::Schemas(args) => commands::schemas::run(args),
        Command::Publish(args) => commands::publish::run(args),
        Command::Outbox(args) => commands::outbox::run(args),
        Command::Replay(args) => block_on(commands::replay::run(args)),
        Command::Dlq(args) => block_on(commands::dlq::run(args)),
        Command::Workflows(args) => block_on(commands::workflows::run(args)),
        Command::Halt(args) => block_on(commands::halt::halt(args)),
        Command::Resume(args) => block_on(commands::halt::resume(args)),
        Command::Shadow(args) => block_on(commands::shadow::run(args)),
        Command::Sign(args) => block_on(commands::sign::run(args)),
        Command::Console(args) => block_on(commands::console::run(args)),
        Command::Simulate(args) => block_on(commands::simulate::run(args)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // An error may quote what an event holds: shown as text.
            eprintln!(
                "error: {}",
                alchemiser_events::text::printable(&format!("{error:#}"))
            );
            let details = error
                .downcast_ref::<alchemiser_aws::SetupError>()
                .and_then(alchemiser_aws::SetupError::details)
                .or_else(|| {
                    error
                        .downcast_ref::<commands::Explained>()
                        .map(|e| e.details.as_str())
                })
                .or_else(|| {
                    error
                        .downcast_ref::<alchemiser_operations::OperationsError>()
                        .and_then(alchemiser_operations::OperationsError::details)
                });
            if let Some(details) = details {
                if cli.verbose {
                    eprintln!("details: {details}");
                } else {
                    eprintln!("(run with -v for the details)");
                }
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs an async command on a single-threaded runtime: the CLI does one thing at a time.
fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

/// Logs go to stderr so that stdout carries only results (JSON lines where asked); `-v` shows
/// the info lines too; `RUST_LOG` overrides.
fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour codes only for a person at a terminal: in a file, a pipe or CI they are noise.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
