//! Orders only as intended, at the domain level: stale and drifted plans are refused with the
//! numbers, transient broker failures stop the plan for a retry that never places an order twice,
//! buys wait for the sells to fill, positions the contract cannot hold are left alone, and absurd
//! numbers are errors, never panics.

use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::{Delivery, EventHandler, HandlerError};
use alchemiser_clock::{Clock, ManualClock};
use alchemiser_events::{
    decode, Decimal, Event, EventHeader, EventType, RebalancePlanned, SignalGenerated, Symbol,
    Timestamp,
};
use alchemiser_trading::{
    plan_rebalance, BrokerError, Call, ExecutionHandler, ExecutionSettings, Fault, PaperBroker,
    PlanError, PlannerConfig, PortfolioFile, PortfolioHandler, PortfolioSnapshot, Position,
    ScriptedBroker, UnsupportedPosition,
};
use chrono::{DateTime, Utc};
use rust_decimal_macros::dec;

const PLAN: &[u8] = include_bytes!("../../../examples/events/RebalancePlanned.eventbridge.json");
const SIGNAL: &[u8] = include_bytes!("../../../examples/events/SignalGenerated.eventbridge.json");

/// The example plan (SELL 3,040 of TLT, BUY 2,940 of SPY on a 30/70 account of 10,000), made `at`.
fn plan_made_at(at: DateTime<Utc>) -> RebalancePlanned {
    let Event::RebalancePlanned(mut planned) = decode(PLAN).unwrap().event else {
        unreachable!()
    };
    planned.rebalance_plan.timestamp = Timestamp(at);
    planned.header.timestamp = Timestamp(at);
    planned
}

fn account(json: &str) -> PaperBroker {
    PaperBroker::in_memory(PortfolioFile::from_json(json).unwrap())
}

/// The account the example plan was made from.
fn thirty_seventy() -> PaperBroker {
    account(
        r#"{"cash": "0.00", "positions": [
            {"symbol": "SPY", "qty": "30", "price": "100.00"},
            {"symbol": "TLT", "qty": "70", "price": "100.00"}]}"#,
    )
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T14:35:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn handler(broker: Arc<dyn alchemiser_trading::Broker>, clock: &ManualClock) -> ExecutionHandler {
    ExecutionHandler::new(broker, ExecutionSettings::default()).with_clock(Arc::new(clock.clone()))
}

async fn execute(
    handler: &ExecutionHandler,
    planned: &RebalancePlanned,
) -> Result<Vec<Event>, HandlerError> {
    handler
        .handle(&planned.clone().into(), &Delivery::in_process())
        .await
        .map(|handled| handled.events)
}

/// One step of `planned`: the request to look again later, or an error if it was done.
async fn pending(
    handler: &ExecutionHandler,
    planned: &RebalancePlanned,
) -> alchemiser_bus::CheckAgain {
    let handled = handler
        .handle(&planned.clone().into(), &Delivery::in_process())
        .await
        .unwrap();
    assert!(handled.events.is_empty(), "{handled:?}");
    handled.check_again.expect("a follow-up")
}

fn refusal(events: &[Event]) -> (String, String) {
    match events {
        [Event::WorkflowFailed(failed)] => (
            failed.error_details["check"].as_str().unwrap().to_owned(),
            failed.failure_reason.clone(),
        ),
        other => panic!("expected only a WorkflowFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_plan_older_than_the_stage_allows_is_refused_naming_the_check_and_the_numbers() {
    let clock = ManualClock::starting_at(now());
    let broker = Arc::new(thirty_seventy());
    let events = execute(
        &handler(broker.clone(), &clock),
        &plan_made_at(now() - Duration::from_secs(24 * 3600)),
    )
    .await
    .unwrap();
    let (check, reason) = refusal(&events);
    assert_eq!(check, "plan_age");
    assert!(
        reason.contains("1d00h old") && reason.contains("15m00s"),
        "{reason}"
    );
    assert!(
        broker.snapshot().unwrap().orders.is_empty(),
        "a stale plan traded"
    );
    // A fresh plan trades.
    let events = execute(
        &handler(broker.clone(), &clock),
        &plan_made_at(now() - Duration::from_secs(60)),
    )
    .await
    .unwrap();
    assert!(matches!(
        events[..],
        [Event::TradeExecuted(_), Event::WorkflowCompleted(_)]
    ));
    assert_eq!(broker.snapshot().unwrap().orders.len(), 2);
}

#[tokio::test]
async fn a_fresh_plan_of_a_workflow_past_its_deadline_is_refused_the_sweep_has_timed_it_out() {
    let clock = ManualClock::starting_at(now());
    let broker = Arc::new(thirty_seventy());
    // Planned a minute ago, in a workflow that started 31 minutes ago (its portfolio step was
    // retried for half an hour): the monitor has timed the workflow out at 30.
    let mut planned = plan_made_at(now() - Duration::from_secs(60));
    planned
        .header
        .metadata
        .get_or_insert_with(Default::default)
        .insert(
            "workflow_started_at".into(),
            serde_json::json!(Timestamp(now() - Duration::from_secs(31 * 60)).to_wire()),
        );
    let events = execute(&handler(broker.clone(), &clock), &planned)
        .await
        .unwrap();
    let (check, reason) = refusal(&events);
    assert_eq!(check, "workflow_age");
    assert!(
        reason.contains("31m00s ago") && reason.contains("WORKFLOW_DEADLINE_SECONDS"),
        "{reason}"
    );
    assert!(
        broker.snapshot().unwrap().orders.is_empty(),
        "a timed-out workflow traded"
    );
    // Within its deadline, the same plan trades.
    planned.header.metadata.as_mut().unwrap().insert(
        "workflow_started_at".into(),
        serde_json::json!(Timestamp(now() - Duration::from_secs(29 * 60)).to_wire()),
    );
    let events = execute(&handler(broker.clone(), &clock), &planned)
        .await
        .unwrap();
    assert!(matches!(
        events[..],
        [Event::TradeExecuted(_), Event::WorkflowCompleted(_)]
    ));
}

#[tokio::test]
async fn a_plan_from_an_account_that_has_since_rebalanced_is_refused_not_traded_to_89_9() {
    // A newer workflow already moved the account to 60/40; the older plan (30/70 → 60/40),
    // redriven, would have moved it to 89/9.
    let clock = ManualClock::starting_at(now());
    let broker = Arc::new(account(
        r#"{"cash": "100.00", "positions": [
            {"symbol": "SPY", "qty": "59.4", "price": "100.00"},
            {"symbol": "TLT", "qty": "39.6", "price": "100.00"}]}"#,
    ));
    let events = execute(
        &handler(broker.clone(), &clock),
        &plan_made_at(now() - Duration::from_secs(120)),
    )
    .await
    .unwrap();
    let (check, reason) = refusal(&events);
    assert_eq!(check, "drift");
    // The numbers: 60.8% moved in all (TLT -3,040, SPY +2,940, cash +100), TLT the most.
    assert!(
        reason.contains("TLT was 7000.00 in the plan and is 3960.00 now")
            && reason.contains("by 60.80% of the plan's portfolio value 10000.00 in all")
            && reason.contains("max_drift_tolerance of 5.00%"),
        "{reason}"
    );
    assert!(broker.snapshot().unwrap().orders.is_empty());
}

#[tokio::test]
async fn a_plan_dated_in_the_future_beyond_clock_skew_is_refused() {
    let clock = ManualClock::starting_at(now());
    let broker = Arc::new(thirty_seventy());
    let events = execute(
        &handler(broker.clone(), &clock),
        &plan_made_at(now() + Duration::from_secs(600)),
    )
    .await
    .unwrap();
    assert_eq!(refusal(&events).0, "clock_skew");
    // Within the skew it is fine.
    let events = execute(
        &handler(broker, &clock),
        &plan_made_at(now() + Duration::from_secs(20)),
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn a_transient_broker_failure_stops_the_step_and_the_follow_up_never_places_an_order_twice() {
    let clock = ManualClock::starting_at(now());
    let spy = Symbol::parse("SPY").unwrap();
    let broker = Arc::new(
        ScriptedBroker::new(thirty_seventy())
            .fail_orders_for(spy.clone(), BrokerError::Transient("HTTP 503".into())),
    );
    let planned = plan_made_at(now());
    let again = pending(&handler(broker.clone(), &clock), &planned).await;
    assert!(
        again.why.contains("HTTP 503"),
        "a broker 5xx stops the step; the plan goes on at its next check: {}",
        again.why
    );
    assert_eq!(
        broker.inner().snapshot().unwrap().orders.len(),
        1,
        "the SELL was placed"
    );
    // The broker is back; the follow-up resumes the plan.
    broker.heal(&spy);
    clock.advance(again.after);
    let events = execute(&handler(broker.clone(), &clock), &planned)
        .await
        .unwrap();
    let Event::TradeExecuted(executed) = &events[0] else {
        panic!("{events:?}")
    };
    assert!(executed.success, "{:?}", executed.failure_reason);
    assert_eq!(executed.execution_data["orders_resumed"], 1);
    let orders = broker.inner().snapshot().unwrap().orders;
    assert_eq!(
        orders.len(),
        2,
        "one SELL and one BUY, each once: {orders:?}"
    );
    assert!(matches!(events[1], Event::WorkflowCompleted(_)));
}

#[tokio::test]
async fn an_order_whose_answer_was_lost_is_found_by_its_client_order_id_on_the_follow_up() {
    let clock = ManualClock::starting_at(now());
    let lost = std::sync::atomic::AtomicBool::new(false);
    let broker = Arc::new(ScriptedBroker::new(thirty_seventy()).with_faults(
        move |call| match call {
            // The first SELL reaches the broker, but its answer times out.
            Call::Place(order)
                if order.symbol.as_str() == "TLT"
                    && !lost.swap(true, std::sync::atomic::Ordering::SeqCst) =>
            {
                Some(Fault::LostAnswer)
            }
            _ => None,
        },
    ));
    let planned = plan_made_at(now());
    let again = pending(&handler(broker.clone(), &clock), &planned).await;
    assert!(again.why.contains("answer was lost"), "{}", again.why);
    let events = execute(&handler(broker.clone(), &clock), &planned)
        .await
        .unwrap();
    assert!(
        matches!(events[1], Event::WorkflowCompleted(_)),
        "{events:?}"
    );
    let orders = broker.inner().snapshot().unwrap().orders;
    assert_eq!(
        orders.len(),
        2,
        "the TLT sell once, then the SPY buy: {orders:?}"
    );
}

#[tokio::test]
async fn buys_wait_for_the_sells_to_fill_and_are_sized_from_what_they_freed() {
    let clock = ManualClock::starting_at(now());
    let broker = Arc::new(
        ScriptedBroker::new(thirty_seventy())
            .with_clock(Arc::new(clock.clone()))
            .with_faults(|call| match call {
                Call::Place(order) if order.side == alchemiser_trading::OrderSide::Sell => {
                    Some(Fault::FillAfter(Duration::from_secs(8)))
                }
                _ => None,
            }),
    );
    let events = execute(&handler(broker.clone(), &clock), &plan_made_at(now()))
        .await
        .unwrap();
    let Event::TradeExecuted(executed) = &events[0] else {
        panic!("{events:?}")
    };
    let orders = executed.execution_data["orders"].as_array().unwrap();
    assert_eq!(orders[0]["status"], "FILLED", "the sell was waited for");
    assert_eq!(orders[1]["side"], "buy");
    assert_eq!(
        orders[1]["qty"], "29.4",
        "the buy is sized from the 3,040 the sell freed"
    );
    assert!(clock.now() - now() >= chrono::TimeDelta::seconds(8));
    assert!(executed.success);
}

#[tokio::test]
async fn sells_that_do_not_fill_in_time_end_the_step_and_the_follow_up_places_the_buys() {
    let clock = ManualClock::starting_at(now());
    let broker = Arc::new(
        ScriptedBroker::new(thirty_seventy())
            .with_clock(Arc::new(clock.clone()))
            .with_faults(|call| match call {
                Call::Place(order) if order.side == alchemiser_trading::OrderSide::Sell => {
                    Some(Fault::FillAfter(Duration::from_secs(90)))
                }
                _ => None,
            }),
    );
    let planned = plan_made_at(now());
    let again = pending(&handler(broker.clone(), &clock), &planned).await;
    assert!(
        again.why.contains("sells of plan") && again.why.contains("still open"),
        "{}",
        again.why
    );
    assert_eq!(
        broker.inner().snapshot().unwrap().orders.len(),
        0,
        "no buy without the cash"
    );
    clock.advance(Duration::from_secs(60));
    let events = execute(&handler(broker.clone(), &clock), &planned)
        .await
        .unwrap();
    assert!(
        matches!(events[1], Event::WorkflowCompleted(_)),
        "{events:?}"
    );
    assert_eq!(broker.inner().snapshot().unwrap().orders.len(), 2);
}

#[tokio::test]
async fn the_same_signal_planned_twice_gets_the_same_plan_and_event_ids() {
    let Event::SignalGenerated(signal) = decode(SIGNAL).unwrap().event else {
        unreachable!()
    };
    let clock = ManualClock::starting_at(now());
    let portfolio = PortfolioHandler::new(Arc::new(thirty_seventy()), PlannerConfig::default())
        .with_clock(Arc::new(clock.clone()));
    let first = portfolio.plan(&signal).await.unwrap();
    clock.advance(Duration::from_secs(90));
    let second = portfolio.plan(&signal).await.unwrap();
    assert_eq!(first.rebalance_plan.plan_id, second.rebalance_plan.plan_id);
    assert_eq!(first.header.event_id, second.header.event_id);
    // Another signal, another plan.
    let mut other: SignalGenerated = signal.clone();
    other.header.event_id = "signal-generated-0002".into();
    let third = portfolio.plan(&other).await.unwrap();
    assert_ne!(third.rebalance_plan.plan_id, first.rebalance_plan.plan_id);
    // A replay of the signal derives another event id, never the live one's.
    let mut replayed = signal.clone();
    replayed
        .header
        .add_provenance(&alchemiser_events::Provenance::replayed("after-outage"));
    let fourth = portfolio.plan(&replayed).await.unwrap();
    assert_ne!(fourth.header.event_id, first.header.event_id);
    assert_eq!(
        fourth.header.provenance().replay_name.as_deref(),
        Some("after-outage")
    );
}

#[tokio::test]
async fn positions_the_contract_cannot_hold_are_reported_and_left_alone() {
    let Event::SignalGenerated(mut signal) = decode(SIGNAL).unwrap().event else {
        unreachable!()
    };
    // Its workflow starts now (the example's is a year old: execution would refuse its plan).
    signal.header.timestamp = Timestamp::now();
    let option = UnsupportedPosition {
        symbol: "SPY261218C00600000".into(),
        reason: "symbol `SPY261218C00600000` must be 1–10 characters long (it has 18)".into(),
        market_value: Some(dec!(1250)),
    };
    let broker = Arc::new(ScriptedBroker::new(thirty_seventy()).also_holding(option));
    let portfolio = PortfolioHandler::new(broker.clone(), PlannerConfig::default());
    let planned = portfolio.plan(&signal).await.unwrap();
    let metadata = planned.rebalance_plan.metadata.as_ref().unwrap();
    assert_eq!(
        metadata["positions_left_alone"][0]["symbol"],
        "SPY261218C00600000"
    );
    assert!(planned
        .rebalance_plan
        .items
        .iter()
        .all(|i| i.symbol.as_str() != "SPY261218C00600000"));
    assert_eq!(planned.rebalance_plan.total_portfolio_value, dec!(10000.00));
    // And execution trades the plan around it.
    let events = ExecutionHandler::new(broker, ExecutionSettings::default())
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    assert!(
        matches!(events[1], Event::WorkflowCompleted(_)),
        "{events:?}"
    );
}

#[test]
fn absurd_account_values_are_a_plan_error_not_a_panic() {
    let target = serde_json::from_str(r#"{"SPY": "1.0"}"#).unwrap();
    let snapshot = PortfolioSnapshot {
        cash: Decimal::MAX,
        positions: vec![Position {
            symbol: Symbol::parse("SPY").unwrap(),
            qty: Decimal::MAX,
            price: Decimal::MAX,
        }],
        prices: Default::default(),
        portfolio_value: None,
    };
    let error = plan_rebalance(&target, &snapshot, &PlannerConfig::default()).unwrap_err();
    assert!(matches!(error, PlanError::Overflow(_)), "{error}");
    assert!(error.to_string().contains("overflows"), "{error}");
}

#[tokio::test]
async fn an_absurd_price_at_execution_is_a_permanent_error_naming_the_values_not_a_panic() {
    let clock = ManualClock::starting_at(now());
    let tiny = "0.0000000000000000000000000001";
    let broker = Arc::new(thirty_seventy());
    let mut planned = plan_made_at(now());
    // The sell leg stays; the buy is of a symbol quoted at an absurd price. (A buy of
    // Decimal::MAX is refused before sizing now: more than the account's equity.)
    planned.rebalance_plan.items[1].trade_amount = "3000".parse().unwrap();
    planned.rebalance_plan.max_drift_tolerance = Decimal::ONE;
    let priced = ScriptedBroker::new(PriceOverride {
        inner: broker,
        price: tiny.parse().unwrap(),
    });
    let error = execute(&handler(Arc::new(priced), &clock), &planned)
        .await
        .unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert!(
        error.reason().contains("overflows") && error.reason().contains(tiny),
        "{error}"
    );
}

/// A broker that quotes every symbol at one price.
struct PriceOverride {
    inner: Arc<PaperBroker>,
    price: Decimal,
}

#[async_trait::async_trait]
impl alchemiser_trading::Broker for PriceOverride {
    async fn account(&self) -> Result<alchemiser_trading::Account, BrokerError> {
        self.inner.account().await
    }
    async fn holdings(&self) -> Result<alchemiser_trading::Holdings, BrokerError> {
        self.inner.holdings().await
    }
    async fn latest_price(&self, _: &Symbol) -> Result<Decimal, BrokerError> {
        Ok(self.price)
    }
    async fn place_market_order(
        &self,
        order: &alchemiser_trading::OrderRequest,
    ) -> Result<alchemiser_trading::OrderOutcome, BrokerError> {
        self.inner.place_market_order(order).await
    }
    async fn order(
        &self,
        id: &str,
    ) -> Result<Option<alchemiser_trading::OrderOutcome>, BrokerError> {
        self.inner.order(id).await
    }
    async fn cancel_order(&self, id: &str) -> Result<(), BrokerError> {
        self.inner.cancel_order(id).await
    }
    async fn open_orders(&self) -> Result<Vec<alchemiser_trading::OrderOutcome>, BrokerError> {
        self.inner.open_orders().await
    }
    async fn orders_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<alchemiser_trading::OrderOutcome>, BrokerError> {
        self.inner.orders_since(since).await
    }
    async fn market_clock(&self) -> Result<alchemiser_trading::MarketClock, BrokerError> {
        self.inner.market_clock().await
    }
    async fn trading_days(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<alchemiser_trading::TradingDay>, BrokerError> {
        self.inner.trading_days(from, to).await
    }
}

#[test]
fn a_replay_mark_on_the_envelope_travels_into_the_event() {
    let mut value: serde_json::Value = serde_json::from_slice(SIGNAL).unwrap();
    value["replay-name"] = "after-outage".into();
    let received = alchemiser_events::decode_value(value).unwrap();
    let header: &EventHeader = received.event.header();
    assert_eq!(
        header.provenance().replay_name.as_deref(),
        Some("after-outage")
    );
    let caused = EventHeader::caused_by(
        header,
        EventType::RebalancePlanned,
        "portfolio",
        Timestamp(now()),
    );
    assert!(!caused.provenance().is_live());
}
