//! `alchemiser invoke <handler> --event FILE`: one handler on a captured event, through exactly
//! the code path its Lambda runs (decode, routing check, idempotency, handler, publish), with
//! local adapters: an in-memory bus whose events are printed, the paper broker, an in-memory
//! idempotency store and dead-letter queue.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use alchemiser_bus::{InMemoryBus, RecordingHandler};
use alchemiser_events::{HandlerName, ParseError};
use alchemiser_lambda::{
    Adapters, InvocationContext, InvocationOutcome, Invoke, Invoker, TriggerInvoker,
};
use alchemiser_ledger::{LedgerStore, MemoryLedger, Monitor, SqliteLedger};
use alchemiser_operations::Stage;
use alchemiser_trading::{
    MarketHours, PaperBroker, PlannerConfig, PortfolioFile, ReadOnlyBroker, RunDecision,
    StrategyHandler, Workflow,
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
    #[command(flatten)]
    execution: super::settings::ExecutionFlags,
    #[command(flatten)]
    time: super::settings::TimeFlags,
    /// Check who made the event as stage STAGE's functions do: with its signing keys (KMS
    /// VerifyMac, so credentials that may use them, e.g. the operator role) and the unsigned
    /// sources it accepts. A plan captured on that stage verifies; a forged one is refused as the
    /// stage would refuse it. Without it, a local key signs and verifies, and unsigned events run.
    #[arg(long, value_name = "STAGE")]
    stage: Option<Stage>,
    /// Remove the event's signature and run it unverified (a captured event signed with a
    /// stage's key, debugged on a laptop without that stage's credentials).
    #[arg(long, conflicts_with = "stage")]
    ignore_signature: bool,
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
    let mut payload: serde_json::Value = if bytes.trim_ascii().is_empty() {
        anyhow::bail!(
            "`{}` is empty: expected an EventBridge envelope or an event detail",
            args.event.display()
        )
    } else {
        serde_json::from_slice(&bytes)
            .with_context(|| format!("`{}` is not valid JSON", args.event.display()))?
    };

    let stage_signed = super::sign::stage_signature(&payload);
    if args.ignore_signature && super::sign::remove_signature(&mut payload)? {
        eprintln!("note: the event's signature was removed; it runs unverified");
    }

    let bus = Arc::new(InMemoryBus::new());
    let published = RecordingHandler::on_every_type(bus.as_ref());
    let (mut adapters, _) = Adapters::in_memory(bus);
    if let Some(stage) = &args.stage {
        let sdk = super::aws_config().await?;
        let mut authenticity = alchemiser_operations::stage_authenticity(&sdk, stage).await?;
        // What the handler emits is signed locally: nothing here signs as the stage.
        authenticity.local = Some(alchemiser_signing::LocalKeys::process());
        adapters.authenticity = authenticity;
    }

    let clock = args.time.clock();
    let mut strategy = None;
    let invoker: Arc<dyn Invoke> = match args.handler {
        HandlerName::Strategy => {
            let text = match &args.allocation {
                Some(path) => String::from_utf8(super::read_input(path)?)?,
                None => super::SAMPLE_ALLOCATION.to_owned(),
            };
            let mut handler = StrategyHandler::from_allocation_json(&text)?.with_clock(clock);
            if let Some(run_at) = args.time.run_at {
                // The calendar only: the strategy places no order.
                let calendar = PaperBroker::in_memory(PortfolioFile::default())
                    .with_market_hours(MarketHours::Nyse);
                handler = handler
                    .with_schedule(run_at, Arc::new(ReadOnlyBroker::new(Arc::new(calendar))));
            }
            let handler = Arc::new(handler);
            strategy = Some(handler.clone());
            Arc::new(TriggerInvoker::new(
                HandlerName::Strategy.as_str(),
                handler,
                adapters,
            ))
        }
        consumer => {
            let mut broker = match &args.portfolio {
                Some(path) => PaperBroker::open(path)?,
                None => PaperBroker::in_memory(PortfolioFile::from_json(super::SAMPLE_PORTFOLIO)?),
            };
            if args.time.at.is_some() {
                broker = broker
                    .with_clock(clock.clone())
                    .with_market_hours(MarketHours::Nyse);
            }
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
                args.execution.settings()?,
                |_| clock.clone(),
                Arc::new(Monitor::new(ledger)),
            )
            .with_halt(args.execution.halt(clock.now()));
            let handler = workflow
                .handler(consumer)
                .context("this handler consumes no events")?;
            Arc::new(Invoker::new(consumer, handler, adapters))
        }
    };

    let outcome = invoker
        .invoke(payload.clone(), &InvocationContext::local())
        .await;
    let events = published.events();
    // A scheduled tick that is not today's run starts nothing: say why.
    if let (Some(strategy), true) = (&strategy, events.is_empty()) {
        if let Ok(RunDecision::Skip(why)) = strategy.decide(&payload).await {
            eprintln!("no workflow started: {why}");
        }
    }
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
            eprintln!(
                "permanent failure (in Lambda: recorded as a dead letter, not retried): {reason}"
            );
            if let (Some(key_id), None) = (stage_signed, &args.stage) {
                eprintln!(
                    "hint: the event is signed with a stage's key ({key_id}), which a local run cannot verify: \
                     pass --stage STAGE to verify it with that stage's keys (credentials that may kms:VerifyMac, \
                     e.g. the operator role), or --ignore-signature to run it unverified"
                );
            }
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
