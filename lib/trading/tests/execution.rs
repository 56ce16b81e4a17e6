//! Execution against the paper broker and a failing broker; the whole workflow on the bus.

use std::sync::Arc;

use alchemiser_bus::{error_chain, Delivery, EventBus, EventHandler, InMemoryBus};
use alchemiser_events::{
    decode, Decimal, Event, Provenance, RebalancePlanned, Symbol, SymbolMap, Timestamp,
};
use alchemiser_ledger::{summarize, LedgerStore, MemoryLedger, Monitor, WorkflowState};
use alchemiser_trading::{
    BrokerError, ExecutionHandler, ExecutionSettings, PaperBroker, PlannerConfig, PortfolioFile,
    ScriptedBroker, StrategyHandler, Workflow,
};
use rust_decimal_macros::dec;

/// Execution settings for the captured example plans, which are older than any stage would
/// trade (their age is not what these tests are about).
fn captured() -> ExecutionSettings {
    ExecutionSettings {
        max_plan_age: std::time::Duration::from_secs(100 * 366 * 24 * 3600),
        max_workflow_age: std::time::Duration::from_secs(100 * 366 * 24 * 3600),
        ..ExecutionSettings::default()
    }
}

const PLAN: &[u8] = include_bytes!("../../../examples/events/RebalancePlanned.eventbridge.json");

fn contract_plan() -> RebalancePlanned {
    match decode(PLAN).unwrap().event {
        Event::RebalancePlanned(plan) => plan,
        _ => unreachable!(),
    }
}

fn contract_account() -> PortfolioFile {
    PortfolioFile::from_json(
        r#"{"cash": "0.00", "positions": [
            {"symbol": "SPY", "qty": "30", "price": "100.00"},
            {"symbol": "TLT", "qty": "70", "price": "100.00"}]}"#,
    )
    .unwrap()
}

fn qty(account: &PortfolioFile, symbol: &str) -> Decimal {
    account
        .positions
        .iter()
        .find(|p| p.symbol.as_str() == symbol)
        .map_or(Decimal::ZERO, |p| p.qty)
}

#[tokio::test]
async fn sells_first_then_buys_with_the_freed_cash() {
    let broker = Arc::new(PaperBroker::in_memory(contract_account()));
    let handler = ExecutionHandler::new(broker.clone(), captured());
    let events = handler
        .handle(&contract_plan().into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;

    let Event::TradeExecuted(executed) = &events[0] else {
        panic!("{events:?}")
    };
    assert!(executed.success);
    assert_eq!((executed.orders_placed, executed.orders_succeeded), (2, 2));
    let orders = executed.execution_data["orders"].as_array().unwrap();
    assert_eq!(orders[0]["side"], "sell");
    assert_eq!(orders[0]["symbol"], "TLT");
    assert_eq!(orders[0]["qty"], "30.4");
    assert_eq!(orders[1]["side"], "buy");
    assert_eq!(orders[1]["qty"], "29.4");
    assert!(matches!(events[1], Event::WorkflowCompleted(_)));

    let after = broker.snapshot().unwrap();
    assert_eq!(qty(&after, "TLT"), dec!(39.6));
    assert_eq!(qty(&after, "SPY"), dec!(59.4));
    assert_eq!(after.cash, dec!(100.00)); // the 1% reserve
    assert_eq!(after.orders.len(), 2);
}

#[tokio::test]
async fn buys_are_limited_to_available_cash() {
    // The plan wants 2,940 of SPY; the account only frees 1,000 (TLT is cheaper than planned).
    let account = PortfolioFile::from_json(
        r#"{"cash": "0.00", "positions": [
            {"symbol": "SPY", "qty": "30", "price": "100.00"},
            {"symbol": "TLT", "qty": "70", "price": "32.8947"}]}"#,
    )
    .unwrap();
    let broker = Arc::new(PaperBroker::in_memory(account));
    // A plan that tolerates this much drift (the drift check has tests of its own).
    let mut plan = contract_plan();
    plan.rebalance_plan.max_drift_tolerance = Decimal::ONE;
    let events = ExecutionHandler::new(broker.clone(), captured())
        .handle(&plan.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    let Event::TradeExecuted(executed) = &events[0] else {
        panic!()
    };
    let after = broker.snapshot().unwrap();
    assert!(
        after.cash >= Decimal::ZERO,
        "never spends cash it does not have: {}",
        after.cash
    );
    assert!(after.cash < dec!(0.01));
    // TLT: 3040 / 32.8947 = 92.416… shares wanted, 70 held: sells 70 → 2302.63 of cash.
    assert_eq!(qty(&after, "TLT"), dec!(0));
    let spy_bought = qty(&after, "SPY") - dec!(30);
    assert_eq!(spy_bought, dec!(23.02629));
    assert!(executed.success);
}

#[tokio::test]
async fn hold_items_place_nothing() {
    let mut plan = contract_plan();
    for item in &mut plan.rebalance_plan.items {
        item.action = alchemiser_events::TradeAction::Hold;
    }
    plan.trades_required = false;
    let broker = Arc::new(PaperBroker::in_memory(contract_account()));
    let events = ExecutionHandler::new(broker.clone(), captured())
        .handle(&plan.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    let Event::TradeExecuted(executed) = &events[0] else {
        panic!()
    };
    assert_eq!(executed.orders_placed, 0);
    assert!(broker.snapshot().unwrap().orders.is_empty());
    assert!(matches!(events[1], Event::WorkflowCompleted(_)));
}

#[tokio::test]
async fn a_refused_order_fails_that_order_not_the_batch() {
    let broker = Arc::new(
        ScriptedBroker::new(PaperBroker::in_memory(contract_account())).fail_orders_for(
            Symbol::parse("SPY").unwrap(),
            BrokerError::Permanent("HTTP 403: insufficient buying power".into()),
        ),
    );
    let events = ExecutionHandler::new(broker.clone(), captured())
        .handle(&contract_plan().into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    let Event::TradeExecuted(executed) = &events[0] else {
        panic!()
    };
    // Placed counts what the broker has: the refused buy never became an order.
    assert_eq!((executed.orders_placed, executed.orders_succeeded), (1, 1));
    assert_eq!(executed.failed_symbols, ["SPY"]);
    assert_eq!(executed.execution_data["orders"][1]["status"], "FAILED");
    assert!(executed
        .failure_reason
        .as_deref()
        .unwrap()
        .contains("insufficient buying power"));
    let Event::WorkflowFailed(failed) = &events[1] else {
        panic!("{:?}", events[1])
    };
    assert_eq!(failed.failure_step, "execution");
    // The SELL went through although the BUY after it failed.
    assert_eq!(broker.orders_sent(), 2);
    assert_eq!(qty(&broker.inner().snapshot().unwrap(), "TLT"), dec!(39.6));
}

#[tokio::test]
async fn replays_are_dry_runs_unless_allowed() {
    let mut replayed = contract_plan();
    replayed
        .header
        .add_provenance(&Provenance::replayed("after-outage"));
    let replay: Event = replayed.into();
    let broker = Arc::new(PaperBroker::in_memory(contract_account()));
    let events = ExecutionHandler::new(broker.clone(), captured())
        .handle(&replay, &Delivery::in_process())
        .await
        .unwrap()
        .events;
    let Event::TradeExecuted(executed) = &events[0] else {
        panic!()
    };
    assert_eq!(executed.execution_data["dry_run"], true);
    assert!(executed.execution_data["dry_run_reason"]
        .as_str()
        .unwrap()
        .contains("ALLOW_REPLAY_EXECUTION"));
    assert_eq!(executed.orders_placed, 0);
    let orders = executed.execution_data["orders"].as_array().unwrap();
    assert!(
        orders.iter().all(|o| o["status"] == "DRY_RUN"),
        "{orders:?}"
    );
    assert_eq!(orders.len(), 2);
    assert!(
        broker.snapshot().unwrap().orders.is_empty(),
        "a replay placed orders"
    );

    let allowed = ExecutionHandler::new(
        broker.clone(),
        ExecutionSettings {
            allow_replay_execution: true,
            ..captured()
        },
    );
    allowed
        .handle(&replay, &Delivery::in_process())
        .await
        .unwrap();
    assert_eq!(broker.snapshot().unwrap().orders.len(), 2);
}

#[tokio::test]
async fn a_redelivered_plan_does_not_trade_twice_at_the_broker() {
    let broker = Arc::new(PaperBroker::in_memory(contract_account()));
    let handler = ExecutionHandler::new(broker.clone(), captured());
    for _ in 0..3 {
        handler
            .handle(&contract_plan().into(), &Delivery::in_process())
            .await
            .unwrap();
    }
    let after = broker.snapshot().unwrap();
    assert_eq!(
        after.orders.len(),
        2,
        "the broker dedups by client_order_id"
    );
    assert_eq!(qty(&after, "SPY"), dec!(59.4));
}

#[tokio::test]
async fn the_paper_account_file_is_shared_safely_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("account.json");
    std::fs::write(&path, serde_json::to_string(&contract_account()).unwrap()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            tokio::spawn(async move {
                let broker = Arc::new(PaperBroker::open(&path).unwrap());
                ExecutionHandler::new(broker, captured())
                    .handle(&contract_plan().into(), &Delivery::in_process())
                    .await
                    .unwrap()
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    let reopened = PaperBroker::open(&path).unwrap().snapshot().unwrap();
    assert_eq!(reopened.orders.len(), 2);
    assert_eq!(qty(&reopened, "SPY"), dec!(59.4));
    assert_eq!(reopened.cash, dec!(100.00));
}

#[test]
fn bad_portfolio_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.json");
    std::fs::write(&path, r#"{"cash": "-5", "positions": []}"#).unwrap();
    // The whole chain, as the CLI prints it and as it reaches the logs.
    let open = |path: &std::path::Path| error_chain(&PaperBroker::open(path).err().unwrap());
    let error = open(&path);
    assert!(
        error.contains("p.json") && error.contains("`cash` is -5"),
        "{error}"
    );
    std::fs::write(
        &path,
        r#"{"cash": "0", "positions": [{"symbol": "SPY", "qty": "1"}]}"#,
    )
    .unwrap();
    let error = open(&path);
    assert!(error.contains("missing field `price`"), "{error}");
    let error = open(&dir.path().join("absent.json"));
    assert!(
        error.contains("absent.json") && error.contains("No such file"),
        "{error}"
    );
}

#[tokio::test]
async fn the_whole_workflow_runs_on_the_in_memory_bus() {
    let broker = Arc::new(PaperBroker::in_memory(contract_account()));
    let bus = InMemoryBus::new();
    let ledger = Arc::new(MemoryLedger::new());
    let workflow = Workflow::new(
        broker.clone(),
        PlannerConfig::default(),
        ExecutionSettings::default(),
        |_| alchemiser_clock::system(),
        Arc::new(Monitor::new(ledger.clone())),
    );
    workflow.subscribe_all(&bus);
    let allocation: SymbolMap<Decimal> =
        serde_json::from_str(r#"{"SPY": "0.6", "TLT": "0.4"}"#).unwrap();
    let start = StrategyHandler::new(allocation, "static")
        .start("test", Timestamp::now(), None)
        .unwrap();
    let correlation_id = start[0].header().correlation_id.clone();
    let report = bus.publish(start).await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.delivered.len(), 5);
    let entries = ledger.entries(&correlation_id).await.unwrap();
    assert_eq!(entries.len(), 5, "the monitor saw every event: {entries:?}");
    let summary = summarize(&correlation_id, &entries).unwrap();
    assert_eq!(summary.state, WorkflowState::Completed);
    assert_eq!(qty(&broker.snapshot().unwrap(), "SPY"), dec!(59.4));
}

#[test]
fn a_bad_allocation_is_refused_before_anything_is_published() {
    let allocation: SymbolMap<Decimal> =
        serde_json::from_str(r#"{"SPY": "0.6", "TLT": "0.2"}"#).unwrap();
    let error = StrategyHandler::new(allocation, "static")
        .start("test", Timestamp::now(), None)
        .unwrap_err();
    assert!(error.to_string().contains("sum to 1"), "{error}");
}
