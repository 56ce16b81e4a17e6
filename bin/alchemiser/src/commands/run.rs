//! `alchemiser run`: one whole workflow on the in-memory bus with the paper broker.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use alchemiser_bus::{EventBus, HandlerError, InMemoryBus, RecordingHandler};
use alchemiser_events::{Decimal, Event, HandlerName, Symbol, Timestamp};
use alchemiser_ledger::{LedgerStore, Monitor, SqliteLedger};
use alchemiser_trading::{
    MarketHours, PaperBroker, PlannerConfig, PortfolioFile, StrategyHandler, Workflow,
};
use anyhow::Context;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Target allocation: `{"SPY": "0.6", "TLT": "0.4"}` or `{"strategy": ..., "target_allocations": {...}}`.
    /// Default: the sample in examples/allocation.json.
    #[arg(long)]
    allocation: Option<PathBuf>,
    /// Paper account file, read and updated in place with the fills. Default: the sample in
    /// examples/portfolio.json, in memory only (nothing is written).
    #[arg(long)]
    portfolio: Option<PathBuf>,
    /// Print every event as one JSON line (wire format) instead of the human summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    execution: super::settings::ExecutionFlags,
    /// The instant every check, the calendar and the paper market see (RFC 3339, e.g.
    /// 2026-12-25T20:45:00Z): the paper broker follows the NYSE calendar then.
    #[arg(long, value_name = "TIME", value_parser = super::settings::parse_at)]
    at: Option<chrono::DateTime<chrono::Utc>>,
    /// The local ledger the workflow is recorded in, what `alchemiser console` and
    /// `alchemiser workflows list|show` read (default: $ALCHEMISER_LEDGER, else
    /// .alchemiser/ledger.sqlite3 in this directory).
    #[arg(long, value_name = "FILE")]
    ledger: Option<PathBuf>,
}

/// What a local run's WorkflowFailed names as the dead letter keeping the failed event: none.
const LOCAL_DEAD_LETTER: &str = "none (a local run keeps no dead letters)";

/// Runs the workflow and prints it.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let allocation_text = match &args.allocation {
        Some(path) => String::from_utf8(super::read_input(path)?)
            .with_context(|| format!("`{}` is not UTF-8 text", path.display()))?,
        None => super::SAMPLE_ALLOCATION.to_owned(),
    };
    let allocation_name = args
        .allocation
        .as_ref()
        .map_or("examples/allocation.json (built in)".to_owned(), |p| {
            p.display().to_string()
        });
    let strategy = StrategyHandler::from_allocation_json(&allocation_text)
        .with_context(|| format!("allocation `{allocation_name}`"))?;

    let clock = super::settings::clock_at(args.at);
    let (broker, account_note) = match &args.portfolio {
        Some(path) => (
            PaperBroker::open(path)?,
            format!("paper account {} (updated in place)", path.display()),
        ),
        None => (
            PaperBroker::in_memory(PortfolioFile::from_json(super::SAMPLE_PORTFOLIO)?),
            "paper account examples/portfolio.json (in memory; pass --portfolio FILE to keep state)".to_owned(),
        ),
    };
    let broker = Arc::new(match args.at {
        Some(_) => broker
            .with_clock(clock.clone())
            .with_market_hours(MarketHours::Nyse),
        None => broker,
    });
    let before = broker.snapshot()?;

    let bus = InMemoryBus::new();
    let ledger_path = super::workflows::local_ledger_path(args.ledger.as_ref());
    let ledger = Arc::new(SqliteLedger::open(&ledger_path).map_err(|e| {
        anyhow::anyhow!(
            "{}: pass another file with --ledger FILE",
            alchemiser_bus::error_chain(&e)
        )
    })?);
    let workflow = Workflow::new(
        broker.clone(),
        PlannerConfig::default(),
        args.execution.settings()?,
        |_| clock.clone(),
        Arc::new(Monitor::new(ledger.clone())),
    )
    .with_halt(args.execution.halt(clock.now()));
    workflow.subscribe_all(&bus);
    let recorder = RecordingHandler::on_every_type(&bus);

    let start = strategy
        .start("alchemiser run", Timestamp(clock.now()), None)
        .map_err(|e| anyhow::anyhow!("allocation `{allocation_name}`: {}", e.reason()))?;
    let mut report = bus.publish(start).await;
    // A handler that fails for good ends its workflow visibly, as the Lambda runtime makes it:
    // the handler's own WorkflowFailed, published (and so recorded in the ledger) with the
    // reason. A local run keeps no dead letter.
    for failure in report.handler_failures.clone() {
        let HandlerError::Permanent(reason) = &failure.error else {
            continue;
        };
        let cause = recorder
            .events()
            .into_iter()
            .find(|e| e.event_id() == failure.event_id);
        let handler = failure
            .handler
            .parse::<HandlerName>()
            .ok()
            .and_then(|name| workflow.handler(name));
        if let (Some(cause), Some(handler)) = (cause, handler) {
            let announced = handler.on_permanent_failure(&cause, reason, LOCAL_DEAD_LETTER);
            if !announced.is_empty() {
                report.merge(bus.publish(announced).await);
            }
        }
    }
    let events = recorder.events();
    let after = broker.snapshot()?;

    if args.json {
        for event in &events {
            println!("{}", event.to_json());
        }
    } else {
        print_summary(&events, &before, &after, &account_note);
        if let Some(first) = events.first() {
            print_ledger(ledger.as_ref(), &first.header().correlation_id).await;
            println!(
                "recorded in {}: open `alchemiser console` to see every run in a browser",
                ledger_path.display()
            );
        }
    }
    for failure in &report.handler_failures {
        eprintln!(
            "error: the {} handler failed on {} {}: {}",
            failure.handler, failure.event_type, failure.event_id, failure.error
        );
    }
    let failed = events.iter().any(|e| matches!(e, Event::WorkflowFailed(_)));
    let completed = events
        .iter()
        .any(|e| matches!(e, Event::WorkflowCompleted(_)));
    Ok(if report.is_complete() && completed && !failed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(
    events: &[Event],
    before: &PortfolioFile,
    after: &PortfolioFile,
    account_note: &str,
) {
    if let Some(first) = events.first() {
        println!(
            "workflow {} — {account_note}",
            first.header().correlation_id
        );
    }
    for event in events {
        let header = event.header();
        println!(
            "  {:<18} {:<55} caused by {}",
            event.event_type(),
            header.event_id,
            header.causation_id
        );
    }
    let plan = events.iter().find_map(|e| match e {
        Event::RebalancePlanned(p) => Some(p),
        _ => None,
    });
    let Some(plan) = plan else { return };
    let orders = events.iter().find_map(|e| match e {
        Event::TradeExecuted(t) => t
            .execution_data
            .get("orders")
            .and_then(|o| o.as_array())
            .cloned(),
        _ => None,
    });
    println!();
    println!(
        "{:<8} {:<6} {:>14} {:>12} {:>10} {:>10} {:>10}",
        "SYMBOL", "ACTION", "TRADE $", "QTY", "BEFORE", "AFTER", "TARGET"
    );
    for item in &plan.rebalance_plan.items {
        let qty = orders
            .iter()
            .flatten()
            .find(|o| o["symbol"] == item.symbol.as_str())
            .and_then(|o| o["qty"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<8} {:<6} {:>14} {:>12} {:>10} {:>10} {:>10}",
            item.symbol,
            item.action,
            item.trade_amount,
            qty,
            weight(before, &item.symbol),
            weight(after, &item.symbol),
            item.target_weight
        );
    }
    println!(
        "{:<8} {:<6} {:>14} {:>12} {:>10} {:>10} {:>10}",
        "CASH",
        "",
        "",
        "",
        cash_weight(before),
        cash_weight(after),
        ""
    );
    println!(
        "portfolio value {} → {}",
        before.total_value().round_dp(2),
        after.total_value().round_dp(2)
    );
    for event in events {
        match event {
            Event::WorkflowCompleted(done) => println!(
                "outcome: completed in {} — {}/{} orders succeeded",
                alchemiser_clock::format_duration(chrono::TimeDelta::milliseconds(
                    i64::try_from(done.workflow_duration_ms).unwrap_or(i64::MAX)
                )),
                done.summary.get("orders_succeeded").unwrap_or(&0.into()),
                done.summary.get("orders_placed").unwrap_or(&0.into()),
            ),
            Event::WorkflowFailed(failed) => println!(
                "outcome: FAILED at {}: {}",
                failed.failure_step, failed.failure_reason
            ),
            _ => {}
        }
    }
}

/// The workflow as the ledger saw it: the same tree `alchemiser workflows show` prints.
async fn print_ledger(ledger: &SqliteLedger, correlation_id: &str) {
    let entries = ledger.entries(correlation_id).await.unwrap_or_default();
    if let Some(summary) = alchemiser_ledger::summarize(correlation_id, &entries) {
        println!();
        print!(
            "{}",
            alchemiser_ledger::render::tree(&summary, &entries, "local", chrono::Utc::now())
        );
    }
}

fn weight(account: &PortfolioFile, symbol: &Symbol) -> String {
    let total = account.total_value();
    let value = account
        .positions
        .iter()
        .find(|p| &p.symbol == symbol)
        .map_or(Decimal::ZERO, |p| p.qty * p.price);
    ratio(value, total)
}

fn cash_weight(account: &PortfolioFile) -> String {
    ratio(account.cash, account.total_value())
}

fn ratio(part: Decimal, total: Decimal) -> String {
    if total.is_zero() {
        return "-".into();
    }
    let mut share = (part / total).round_dp(4);
    share.rescale(4);
    share.to_string()
}
