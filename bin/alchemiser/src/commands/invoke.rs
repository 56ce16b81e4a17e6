//! `alchemiser invoke <handler> --event FILE`: one handler on a captured event, through exactly
//! the code path its Lambda runs (decode, routing check, idempotency, handler, publish), with
//! local adapters: an in-memory bus whose events are printed, the paper broker, an in-memory
//! idempotency store and failure queue.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::{InMemoryBus, RecordingHandler};
use alchemiser_events::{HandlerName, ParseError};
use alchemiser_lambda::{
    Adapters, InvocationContext, InvocationOutcome, Invoke, Invoker, TriggerInvoker,
};
use alchemiser_ledger::{LedgerStore, MemoryLedger, Monitor, SqliteLedger};
use alchemiser_trading::{
    ExecutionSettings, PaperBroker, PlannerConfig, PortfolioFile, StrategyHandler, Workflow,
};
use anyhow::Context;

/// Arguments of `invoke`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The function to run: strategy, portfolio, execution or monitor.
    #[arg(value_parser = parse_handler)]
    handler: HandlerName,
    /// The invocation payload: an EventBridge envelope or a bare event detail (`-` for stdin).
    #[arg(long)]
    event: PathBuf,
    /// Paper account the portfolio and execution handlers use, updated in place. Default: the
    /// sample examples/portfolio.json, in memory.
    #[arg(long)]
    portfolio: Option<PathBuf>,
    /// Target allocation for the strategy (default: examples/allocation.json).
    #[arg(long)]
    allocation: Option<PathBuf>,
    /// Place orders even for replayed events (what ALLOW_REPLAY_EXECUTION=true does in Lambda).
    #[arg(long)]
    allow_replay_execution: bool,
    /// The oldest plan execution still trades, in seconds (MAX_PLAN_AGE_SECONDS in Lambda;
    /// default 900). A captured plan is usually older: raise it to replay one on a laptop.
    #[arg(long, value_name = "SECONDS")]
    max_plan_age: Option<u64>,
    /// The oldest workflow execution still trades a plan of, in seconds
    /// (WORKFLOW_DEADLINE_SECONDS in Lambda; default 1800, or --max-plan-age when that is more:
    /// a captured plan's workflow is at least as old as the plan).
    #[arg(long, value_name = "SECONDS")]
    max_workflow_age: Option<u64>,
    /// Print only the published events, one JSON line each.
    #[arg(long)]
    json: bool,
    /// The local ledger the monitor records into (`invoke monitor`; default: $ALCHEMISER_LEDGER,
    /// else .alchemiser/ledger.sqlite3), as the stage's monitor records into its table.
    #[arg(long, value_name = "FILE")]
    ledger: Option<PathBuf>,
}

fn parse_handler(name: &str) -> Result<HandlerName, ParseError> {
    name.parse()
}

/// Runs the handler and prints what it publishes.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bytes = super::read_input(&args.event)?;
    let payload: serde_json::Value = if bytes.trim_ascii().is_empty() {
        anyhow::bail!(
            "`{}` is empty: expected an EventBridge envelope or an event detail",
            args.event.display()
        )
    } else {
        serde_json::from_slice(&bytes)
            .with_context(|| format!("`{}` is not valid JSON", args.event.display()))?
    };

    let bus = Arc::new(InMemoryBus::new());
    let published = RecordingHandler::on_every_type(bus.as_ref());
    let (adapters, _) = Adapters::in_memory(bus);

    let invoker: Arc<dyn Invoke> = match args.handler {
        HandlerName::Strategy => {
            let text = match &args.allocation {
                Some(path) => String::from_utf8(super::read_input(path)?)?,
                None => super::SAMPLE_ALLOCATION.to_owned(),
            };
            let strategy = StrategyHandler::from_allocation_json(&text)?;
            Arc::new(TriggerInvoker::new(
                HandlerName::Strategy.as_str(),
                Arc::new(strategy),
                adapters,
            ))
        }
        consumer => {
            let broker = match &args.portfolio {
                Some(path) => PaperBroker::open(path)?,
                None => PaperBroker::in_memory(PortfolioFile::from_json(super::SAMPLE_PORTFOLIO)?),
            };
            let defaults = ExecutionSettings::default();
            let settings = ExecutionSettings {
                allow_replay_execution: args.allow_replay_execution,
                max_plan_age: args
                    .max_plan_age
                    .map_or(defaults.max_plan_age, Duration::from_secs),
                max_workflow_age: args.max_workflow_age.map_or_else(
                    || {
                        args.max_plan_age
                            .map_or(defaults.max_workflow_age, Duration::from_secs)
                            .max(defaults.max_workflow_age)
                    },
                    Duration::from_secs,
                ),
                ..defaults
            };
            // The monitor's ledger: the local file for `invoke monitor` (what the console reads),
            // a throw-away one for the handlers that only hand their events on.
            let ledger: Arc<dyn LedgerStore> = if consumer == HandlerName::Monitor {
                let path = super::workflows::local_ledger_path(args.ledger.as_ref());
                Arc::new(SqliteLedger::open(&path).map_err(|e| {
                    anyhow::anyhow!(
                        "{}: pass another file with --ledger FILE",
                        alchemiser_bus::error_chain(&e)
                    )
                })?)
            } else {
                Arc::new(MemoryLedger::new())
            };
            let workflow = Workflow::new(
                Arc::new(broker),
                PlannerConfig::default(),
                settings,
                alchemiser_clock::system(),
                Arc::new(Monitor::new(ledger)),
            );
            let handler = workflow
                .handler(consumer)
                .context("this handler consumes no events")?;
            Arc::new(Invoker::new(consumer, handler, adapters))
        }
    };

    let outcome = invoker.invoke(payload, &InvocationContext::local()).await;
    let events = published.events();
    for event in &events {
        if args.json {
            println!("{}", event.to_json());
        } else {
            println!(
                "{} {} (caused by {})",
                event.event_type(),
                event.event_id(),
                event.header().causation_id
            );
        }
    }
    match outcome {
        Ok(InvocationOutcome::RecordedFailure { reason, .. }) => {
            eprintln!("permanent failure (in Lambda: recorded in the failure queue, not retried): {reason}");
            Ok(ExitCode::FAILURE)
        }
        Ok(outcome) => {
            if !args.json {
                eprintln!("{}", outcome.to_response());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{error} (in Lambda: returned as an error so Lambda retries)");
            Ok(ExitCode::FAILURE)
        }
    }
}
