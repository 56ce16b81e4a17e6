//! The stage's pre-trade limits and its kill switch, through the execution handler: a plan that
//! breaks a limit as a whole places nothing and its WorkflowFailed names the limit, its value and
//! the number that broke it; the day's orders are counted from the broker's log; a halt refuses a
//! plan before its first order and stops a started one, canceling what is open.

use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::{Delivery, EventHandler};
use alchemiser_clock::{Clock, ManualClock};
use alchemiser_events::{decode, Decimal, Event, RebalancePlanned, Symbol, Timestamp};
use alchemiser_trading::{
    Broker, BrokerError, Call, ExecutionHandler, ExecutionSettings, Fault, HaltState, MemoryHalt,
    OrderRequest, OrderScript, OrderSide, OrderStatus, PaperBroker, PortfolioFile, RiskLimits,
    ScriptedBroker, HALT_CACHE,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

const PLAN: &[u8] = include_bytes!("../../../examples/events/RebalancePlanned.eventbridge.json");

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T14:35:00Z")
        .unwrap()
        .to_utc()
}

/// The example plan (SELL 3,040 of TLT, BUY 2,940 of SPY on a 30/70 account of 10,000), made now.
fn plan() -> RebalancePlanned {
    let Event::RebalancePlanned(mut planned) = decode(PLAN).unwrap().event else {
        unreachable!()
    };
    planned.rebalance_plan.timestamp = Timestamp(now());
    planned.header.timestamp = Timestamp(now());
    planned
}

/// The account the example plan was made from, its orders timed by `clock`.
fn thirty_seventy(clock: &ManualClock) -> Arc<PaperBroker> {
    let file = r#"{"cash": "0.00", "positions": [
        {"symbol": "SPY", "qty": "30", "price": "100.00"},
        {"symbol": "TLT", "qty": "70", "price": "100.00"}]}"#;
    Arc::new(
        PaperBroker::in_memory(PortfolioFile::from_json(file).unwrap())
            .with_clock(Arc::new(clock.clone())),
    )
}

fn handler(
    broker: Arc<dyn Broker>,
    limits: RiskLimits,
    halt: Arc<MemoryHalt>,
    clock: &ManualClock,
) -> ExecutionHandler {
    let settings = ExecutionSettings {
        limits,
        ..ExecutionSettings::default()
    };
    ExecutionHandler::new(broker, settings)
        .with_clock(Arc::new(clock.clone()))
        .with_halt(halt)
}

async fn run(handler: &ExecutionHandler, planned: &RebalancePlanned) -> alchemiser_bus::Handled {
    handler
        .handle(&planned.clone().into(), &Delivery::in_process())
        .await
        .unwrap()
}

/// The WorkflowFailed of `events`: its check, reason and error details.
fn failed(events: &[Event]) -> (String, String, serde_json::Map<String, Value>) {
    let Some(Event::WorkflowFailed(failed)) = events.last() else {
        panic!("expected a WorkflowFailed last, got {events:?}");
    };
    (
        failed.error_details["check"].as_str().unwrap().to_owned(),
        failed.failure_reason.clone(),
        failed.error_details.clone(),
    )
}

/// The example account behind a broker whose orders meet `fault`, timed by `clock`.
fn placing(
    clock: &ManualClock,
    fault: impl Fn(&OrderRequest) -> Option<Fault> + Send + Sync + 'static,
) -> Arc<ScriptedBroker<Arc<PaperBroker>>> {
    Arc::new(
        ScriptedBroker::new(thirty_seventy(clock))
            .with_clock(Arc::new(clock.clone()))
            .with_faults(move |call| match call {
                Call::Place(order) => fault(order),
                _ => None,
            }),
    )
}

/// One step of `planned` under `limits`, not halted.
async fn run_under(
    broker: Arc<dyn Broker>,
    limits: RiskLimits,
    clock: &ManualClock,
    planned: &RebalancePlanned,
) -> alchemiser_bus::Handled {
    run(&handler(broker, limits, Arc::default(), clock), planned).await
}

fn assert_completed(handled: &alchemiser_bus::Handled) {
    assert!(
        matches!(handled.events.last(), Some(Event::WorkflowCompleted(_))),
        "{:?}",
        handled.events
    );
}

fn limits(change: impl FnOnce(&mut RiskLimits)) -> RiskLimits {
    let mut limits = RiskLimits::unlimited();
    change(&mut limits);
    limits
}

#[tokio::test]
async fn a_plan_whose_weights_sum_to_1_29_passes_validation_but_never_trades() {
    let clock = ManualClock::starting_at(now());
    let broker = thirty_seventy(&clock);
    let mut planned = plan();
    planned.rebalance_plan.items[1].target_weight = "0.894".parse().unwrap();
    Event::from(planned.clone()).validate().unwrap();
    let handled = run_under(broker.clone(), RiskLimits::default(), &clock, &planned).await;
    let (check, reason, details) = failed(&handled.events);
    assert_eq!(check, "target_weights");
    assert!(
        reason.contains("1.29") && reason.contains("no order placed"),
        "{reason}"
    );
    assert_eq!(details["configured"], "1.05");
    assert_eq!(details["actual"], "1.2900");
    assert!(broker.snapshot().unwrap().orders.is_empty());
}

#[tokio::test]
async fn each_limit_the_plan_breaks_is_named_with_its_value_and_the_number() {
    let spy = Symbol::parse("SPY").unwrap();
    let cases: Vec<(RiskLimits, &str, &str, &str)> = vec![
        (
            limits(|l| l.max_order_notional = "3039.99".parse().unwrap()),
            "MAX_ORDER_NOTIONAL",
            "3039.99",
            "3040.00",
        ),
        (
            limits(|l| l.max_plan_turnover = "0.3".parse().unwrap()),
            "MAX_PLAN_TURNOVER",
            "0.3",
            "0.304",
        ),
        (
            limits(|l| l.max_daily_buy_notional = "2939.99".parse().unwrap()),
            "MAX_DAILY_BUY_NOTIONAL",
            "2939.99",
            "2940.00",
        ),
        (
            limits(|l| l.max_daily_orders = 1),
            "MAX_DAILY_ORDERS",
            "1",
            "2",
        ),
        (
            limits(|l| l.buy_allow_list = vec![Symbol::parse("TLT").unwrap()]),
            "BUY_ALLOW_LIST",
            "TLT",
            "SPY",
        ),
    ];
    for (limits, limit, configured, actual) in cases {
        let clock = ManualClock::starting_at(now());
        let broker = thirty_seventy(&clock);
        let handled = run_under(broker.clone(), limits, &clock, &plan()).await;
        let (_, reason, details) = failed(&handled.events);
        assert_eq!(details["limit"], limit, "{reason}");
        assert_eq!(details["configured"], configured, "{limit}: {reason}");
        assert_eq!(details["actual"], actual, "{limit}: {reason}");
        assert!(
            reason.contains(limit) || limit == "BUY_ALLOW_LIST",
            "{reason}"
        );
        assert!(
            broker.snapshot().unwrap().orders.is_empty(),
            "{limit}: the plan placed an order"
        );
    }
    // Just within every one of them, the plan trades.
    let clock = ManualClock::starting_at(now());
    let broker = thirty_seventy(&clock);
    let within = RiskLimits {
        max_order_notional: "3040".parse().unwrap(),
        max_plan_turnover: "0.304".parse().unwrap(),
        max_daily_buy_notional: "2940".parse().unwrap(),
        max_daily_orders: 2,
        max_failed_sell_notional: Decimal::ZERO,
        buy_allow_list: vec![spy],
    };
    let handled = run_under(broker.clone(), within, &clock, &plan()).await;
    assert_completed(&handled);
    assert_eq!(broker.snapshot().unwrap().orders.len(), 2);
}

#[tokio::test]
async fn the_days_orders_are_counted_from_the_brokers_log() {
    let clock = ManualClock::starting_at(now());
    let broker = thirty_seventy(&clock);
    // Earlier today, a person sold one SPY and bought it back: two orders, 100 bought.
    for (side, id) in [(OrderSide::Sell, "person-1"), (OrderSide::Buy, "person-2")] {
        broker
            .place_market_order(&OrderRequest {
                symbol: Symbol::parse("SPY").unwrap(),
                side,
                qty: Decimal::ONE,
                client_order_id: id.into(),
            })
            .await
            .unwrap();
    }
    clock.advance(Duration::from_secs(60));
    let mut planned = plan();
    planned.rebalance_plan.timestamp = Timestamp(clock.now());
    // 2 + 2 = 4 orders: a limit of 3 refuses the plan, 4 lets it trade.
    let handled = run_under(
        broker.clone(),
        limits(|l| l.max_daily_orders = 3),
        &clock,
        &planned,
    )
    .await;
    let (check, reason, _) = failed(&handled.events);
    assert_eq!(check, "max_daily_orders");
    assert!(reason.contains("took 2 orders today"), "{reason}");
    // 100 + 2,940 bought: a limit of 3,039.99 refuses it.
    let handled = run_under(
        broker.clone(),
        limits(|l| l.max_daily_buy_notional = "3039.99".parse().unwrap()),
        &clock,
        &planned,
    )
    .await;
    let (check, reason, _) = failed(&handled.events);
    assert_eq!(check, "max_daily_buy_notional");
    assert!(reason.contains("100.00 was bought today"), "{reason}");
    assert_eq!(broker.snapshot().unwrap().orders.len(), 2);
    let handled = run_under(
        broker.clone(),
        limits(|l| {
            l.max_daily_orders = 4;
            l.max_daily_buy_notional = "3040".parse().unwrap();
        }),
        &clock,
        &planned,
    )
    .await;
    assert_completed(&handled);
    assert_eq!(broker.snapshot().unwrap().orders.len(), 4);
}

#[tokio::test]
async fn failed_sells_above_the_threshold_block_the_buys() {
    let clock = ManualClock::starting_at(now());
    let paper = thirty_seventy(&clock);
    let broker = Arc::new(ScriptedBroker::new(paper.clone()).fail_orders_for(
        Symbol::parse("TLT").unwrap(),
        BrokerError::Permanent("asset TLT is not tradable".into()),
    ));
    let handled = run_under(
        broker,
        limits(|l| l.max_failed_sell_notional = "500".parse().unwrap()),
        &clock,
        &plan(),
    )
    .await;
    let (check, reason, details) = failed(&handled.events);
    assert_eq!(check, "max_failed_sell_notional");
    assert!(reason.contains("TLT 3040.00"), "{reason}");
    assert_eq!(details["actual"], "3040.00");
    assert!(
        paper.snapshot().unwrap().orders.is_empty(),
        "the buy was placed after a failed sell"
    );
}

#[tokio::test]
async fn a_halted_stage_places_nothing_and_the_plan_fails_naming_the_halt() {
    let clock = ManualClock::starting_at(now());
    let broker = thirty_seventy(&clock);
    let halt = Arc::new(MemoryHalt::new());
    halt.set(HaltState::halted(
        "broker incident INC-7",
        "arn:aws:iam::1:user/ops",
        now(),
    ));
    let handled = run(
        &handler(broker.clone(), RiskLimits::default(), halt.clone(), &clock),
        &plan(),
    )
    .await;
    let (check, reason, details) = failed(&handled.events);
    assert_eq!(check, "halted");
    assert!(
        reason.contains("broker incident INC-7") && reason.contains("arn:aws:iam::1:user/ops"),
        "{reason}"
    );
    assert_eq!(details["limit"], "TRADING_HALT_PARAMETER");
    assert!(broker.snapshot().unwrap().orders.is_empty());
    // Resumed, the next workflow trades.
    halt.set(HaltState::running());
    let handled = run(
        &handler(broker.clone(), RiskLimits::default(), halt, &clock),
        &plan(),
    )
    .await;
    assert_completed(&handled);
}

#[tokio::test]
async fn a_halt_stops_a_started_plan_and_cancels_its_open_orders() {
    let clock = ManualClock::starting_at(now());
    // The sell rests at the broker: the first step ends pending.
    let broker = placing(&clock, |order| {
        (order.side == OrderSide::Sell).then(|| Fault::Script(OrderScript::rests()))
    });
    let halt = Arc::new(MemoryHalt::new());
    let execution = handler(broker.clone(), RiskLimits::default(), halt.clone(), &clock);
    let first = run(&execution, &plan()).await;
    assert!(
        first.events.is_empty() && first.check_again.is_some(),
        "{first:?}"
    );
    halt.set(HaltState::halted("stop now", "ops", clock.now()));
    clock.advance(HALT_CACHE);
    let second = run(&execution, &plan()).await;
    let (check, reason, details) = failed(&second.events);
    assert_eq!(check, "halted");
    assert!(
        reason.contains("stopped after it started") && reason.contains("stop now"),
        "{reason}"
    );
    assert_eq!(details["orders_placed"], 1);
    let book = broker.book().await.unwrap();
    assert_eq!(book.len(), 1, "only the sell was ever placed");
    assert_eq!(book[0].order.status, OrderStatus::Canceled);
    assert!(
        matches!(second.events.first(), Some(Event::TradeExecuted(_))),
        "what was placed is reported"
    );
}

#[test]
fn every_limit_check_has_an_alarm_in_the_stack() {
    let alarms = include_str!("../../../infra/lib/alarms.ts");
    for check in alchemiser_trading::Refusal::LIMIT_CHECKS {
        assert!(
            alarms.contains(&format!("check: '{check}'")),
            "infra/lib/alarms.ts LIMIT_ALARMS has no alarm for `{check}`"
        );
    }
}

#[tokio::test]
async fn each_refusal_is_counted_by_its_check() {
    let clock = ManualClock::starting_at(now());
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let metrics = alchemiser_metrics::Metrics::Capture {
        stage: "dev".into(),
        function: "execution".into(),
        lines: lines.clone(),
    };
    let execution = handler(
        thirty_seventy(&clock),
        limits(|l| l.max_daily_orders = 1),
        Arc::default(),
        &clock,
    )
    .with_metrics(metrics);
    run(&execution, &plan()).await;
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["PlansRefused"], 1);
    assert_eq!(line["check"], "max_daily_orders");
}

#[tokio::test]
async fn a_halt_after_every_order_is_final_does_not_fail_the_plan() {
    let clock = ManualClock::starting_at(now());
    // Every order fills 30 s after it is taken, after the invocation's 20 s of waiting.
    let broker = placing(&clock, |_| Some(Fault::FillAfter(Duration::from_secs(30))));
    let halt = Arc::new(MemoryHalt::new());
    let execution = handler(broker.clone(), RiskLimits::default(), halt.clone(), &clock);
    // Step 1: the sell, still open; step 2: it filled, the buy is placed, still open.
    assert!(run(&execution, &plan()).await.events.is_empty());
    clock.advance(Duration::from_secs(40));
    assert!(run(&execution, &plan()).await.events.is_empty());
    assert_eq!(broker.book().await.unwrap().len(), 2);
    // Halted now; by the next step the buy has filled: nothing is open or left to place, so
    // the plan completes as it traded instead of failing for a halt that changed nothing.
    halt.set(HaltState::halted("late halt", "ops", clock.now()));
    clock.advance(Duration::from_secs(40));
    assert_completed(&run(&execution, &plan()).await);
}
