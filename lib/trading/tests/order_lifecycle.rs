//! Every order followed to its end (issue 20): a resumed plan sizes its buys from the cash that
//! is really left, a half-done plan that ages out reports what it placed, an order still open
//! never counts as a success, and nothing is placed while the market is closed.

use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::{Delivery, EventHandler};
use alchemiser_clock::{Clock, ManualClock};
use alchemiser_events::{decode, Event, RebalancePlanned, Symbol};
use alchemiser_trading::{
    client_order_id, Broker, BrokerError, Call, ExecutionHandler, ExecutionSettings, Fault,
    MarketHours, OrderRequest, OrderScript, OrderSide, PaperBroker, PortfolioFile, ScriptedBroker,
};
use chrono::{DateTime, Utc};
use rust_decimal_macros::dec;
use serde_json::json;

/// Tuesday 2026-12-01, 14:35 UTC: 09:35 in New York, the market open.
fn open_market() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T14:35:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn paper(json: serde_json::Value) -> PaperBroker {
    PaperBroker::in_memory(PortfolioFile::from_json(&json.to_string()).unwrap())
}

/// A plan made `at` with `items` (symbol, action, current value, target value), on an account
/// worth `total`.
fn plan(at: DateTime<Utc>, total: &str, items: &[(&str, &str, &str, &str)]) -> RebalancePlanned {
    let items: Vec<serde_json::Value> = items
        .iter()
        .map(|(symbol, action, current, target)| {
            let current: rust_decimal::Decimal = current.parse().unwrap();
            let target: rust_decimal::Decimal = target.parse().unwrap();
            let total: rust_decimal::Decimal = total.parse().unwrap();
            json!({
                "symbol": symbol,
                "current_weight": (current / total).round_dp(4).to_string(),
                "target_weight": (target / total).round_dp(4).to_string(),
                "weight_diff": ((target - current) / total).round_dp(4).to_string(),
                "target_value": target.to_string(),
                "current_value": current.to_string(),
                "trade_amount": (target - current).to_string(),
                "action": action,
                "priority": 1
            })
        })
        .collect();
    let wire = at.to_rfc3339();
    let detail = json!({
        "event_id": "rebalance-planned-lifecycle",
        "correlation_id": "workflow-lifecycle",
        "causation_id": "signal-lifecycle",
        "timestamp": wire,
        "source_module": "portfolio",
        "event_type": "RebalancePlanned",
        "schema_version": "1.0",
        "metadata": {"workflow_started_at": wire},
        "rebalance_plan": {
            "plan_id": "plan-lifecycle",
            "correlation_id": "workflow-lifecycle",
            "causation_id": "signal-lifecycle",
            "timestamp": wire,
            "items": items,
            "total_portfolio_value": total,
            "total_trade_value": "0",
            "max_drift_tolerance": "0.05",
            "schema_version": "1.0"
        },
        "allocation_comparison": {"target_values": {}, "current_values": {}, "deltas": {}},
        "trades_required": true
    });
    let Event::RebalancePlanned(planned) = decode(detail.to_string().as_bytes()).unwrap().event
    else {
        unreachable!()
    };
    planned
}

fn handler(broker: Arc<dyn Broker>, clock: &ManualClock) -> ExecutionHandler {
    ExecutionHandler::new(broker, ExecutionSettings::default()).with_clock(Arc::new(clock.clone()))
}

fn id(plan_id: &str, side: OrderSide, symbol: &str) -> String {
    client_order_id(plan_id, side, &Symbol::parse(symbol).unwrap())
}

/// Defect 1: an earlier attempt bought SPY (6,000) and died before TLT; the account's cash is
/// 4,000 now. The retry must buy TLT with those 4,000, not subtract SPY's cost a second time.
#[tokio::test]
async fn a_resumed_plan_buys_the_rest_with_the_cash_really_left() {
    let clock = ManualClock::starting_at(open_market());
    let broker = Arc::new(paper(json!({
        "cash": "10000.00",
        "prices": {"SPY": "100.00", "TLT": "100.00"}
    })));
    let planned = plan(
        open_market(),
        "10000",
        &[("SPY", "BUY", "0", "6000"), ("TLT", "BUY", "0", "4000")],
    );
    // Attempt 1 placed the SPY buy, then its invocation died.
    broker
        .place_market_order(&OrderRequest {
            symbol: Symbol::parse("SPY").unwrap(),
            side: OrderSide::Buy,
            qty: dec!(60),
            client_order_id: id("plan-lifecycle", OrderSide::Buy, "SPY"),
        })
        .await
        .unwrap();
    assert_eq!(broker.snapshot().unwrap().cash, dec!(4000));

    let events = handler(broker.clone(), &clock)
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    let account = broker.snapshot().unwrap();
    let tlt = account
        .positions
        .iter()
        .find(|p| p.symbol.as_str() == "TLT")
        .map(|p| p.qty);
    assert_eq!(tlt, Some(dec!(40)), "TLT not bought: {events:?}");
    assert_eq!(account.cash, dec!(0.00));
    assert!(
        matches!(events.last(), Some(Event::WorkflowCompleted(_))),
        "{events:?}"
    );
}

/// An account of 10,000 in cash (SPY and TLT at 100) where an earlier attempt of the plan placed
/// its buy of 60 SPY, which follows `spy_script`; every other order fills at once.
async fn spy_buy_placed_by_an_earlier_attempt(
    clock: &ManualClock,
    spy_script: OrderScript,
) -> Arc<ScriptedBroker<PaperBroker>> {
    let spy = Symbol::parse("SPY").unwrap();
    let scripted = spy.clone();
    let broker = Arc::new(
        ScriptedBroker::new(paper(json!({
            "cash": "10000.00",
            "prices": {"SPY": "100.00", "TLT": "100.00"}
        })))
        .with_clock(Arc::new(clock.clone()))
        .with_faults(move |call| match call {
            Call::Place(order) if order.symbol == scripted => {
                Some(Fault::Script(spy_script.clone()))
            }
            _ => None,
        }),
    );
    broker
        .place_market_order(&OrderRequest {
            symbol: spy,
            side: OrderSide::Buy,
            qty: dec!(60),
            client_order_id: id("plan-lifecycle", OrderSide::Buy, "SPY"),
        })
        .await
        .unwrap();
    broker
}

/// An earlier attempt's buy of 60 SPY filled a quarter (1,500 spent) and rests open; its other
/// 45 shares will still take 4,500 of the 8,500 the account holds. The retry buys TLT with the
/// 4,000 left, not with the account's cash as it reads now.
#[tokio::test]
async fn a_resumed_plan_keeps_the_cash_its_open_buys_will_take() {
    let clock = ManualClock::starting_at(open_market());
    let quarter_filled = OrderScript {
        fills: vec![(Duration::ZERO, dec!(0.25))],
        ending: None,
    };
    let broker = spy_buy_placed_by_an_earlier_attempt(&clock, quarter_filled).await;
    let planned = plan(
        open_market(),
        "10000",
        &[("SPY", "BUY", "0", "6000"), ("TLT", "BUY", "0", "5000")],
    );
    assert_eq!(broker.account().await.unwrap().cash, dec!(8500));

    let handled = handler(broker.clone(), &clock)
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap();
    let tlt = broker
        .holdings()
        .await
        .unwrap()
        .positions
        .into_iter()
        .find(|p| p.symbol.as_str() == "TLT")
        .map(|p| p.qty);
    assert_eq!(tlt, Some(dec!(40)), "{handled:?}");
    assert!(
        handled.check_again.is_some(),
        "the SPY buy is still open: {handled:?}"
    );
}

/// TLT fell from 100 to 95 after the plan (within the drift tolerance): selling all 40 frees
/// 3,800, not 4,000. The first buy takes its 3,000, and the second gets the 2,800 left, not
/// the 3,000 it was planned at (GLD, held, keeps the plan within its turnover limit).
fn tlt_fell_since_the_plan() -> (Arc<PaperBroker>, RebalancePlanned) {
    let broker = Arc::new(paper(json!({
        "cash": "2000.00",
        "positions": [{"symbol": "TLT", "qty": "40", "price": "95.00"},
                      {"symbol": "GLD", "qty": "50", "price": "100.00"}],
        "prices": {"SPY": "100.00", "QQQ": "100.00"}
    })));
    let planned = plan(
        open_market(),
        "11000",
        &[
            ("TLT", "SELL", "4000", "0"),
            ("GLD", "HOLD", "5000", "5000"),
            ("SPY", "BUY", "0", "3000"),
            ("QQQ", "BUY", "0", "3000"),
        ],
    );
    (broker, planned)
}

#[tokio::test]
async fn each_buy_gets_the_cash_the_buys_before_it_left() {
    let clock = ManualClock::starting_at(open_market());
    let (broker, planned) = tlt_fell_since_the_plan();
    let events = handler(broker.clone(), &clock)
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    let account = broker.snapshot().unwrap();
    let held = |symbol: &str| {
        account
            .positions
            .iter()
            .find(|p| p.symbol.as_str() == symbol)
            .map(|p| p.qty)
    };
    assert_eq!(
        (held("TLT"), held("SPY"), held("QQQ")),
        (None, Some(dec!(30)), Some(dec!(28))),
        "{events:?}"
    );
    assert_eq!(account.cash, dec!(0.00));
}

/// A shadow places nothing and sizes each order as the live run places it: the sells' proceeds
/// at today's prices, each buy from the cash the ones before it left.
#[tokio::test]
async fn a_dry_run_sizes_the_orders_as_the_live_run_places_them() {
    let clock = ManualClock::starting_at(open_market());
    let (broker, planned) = tlt_fell_since_the_plan();
    let events = handler(broker.clone(), &clock)
        .in_shadow()
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    let Some(Event::TradeExecuted(executed)) = events.first() else {
        panic!("{events:?}")
    };
    let sized: Vec<(String, String, String)> = executed.execution_data["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["symbol"].as_str().unwrap().to_owned(),
                o["qty"].as_str().unwrap().to_owned(),
                o["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let dry = |symbol: &str, qty: &str| (symbol.to_owned(), qty.to_owned(), "DRY_RUN".to_owned());
    assert_eq!(
        sized,
        [dry("TLT", "40"), dry("SPY", "30"), dry("QQQ", "28")]
    );
    assert!(broker.snapshot().unwrap().orders.is_empty());
}

fn sell_tlt_buy_spy() -> (Arc<PaperBroker>, RebalancePlanned) {
    let broker = Arc::new(paper(json!({
        "cash": "0.00",
        "positions": [{"symbol": "TLT", "qty": "70", "price": "100.00"},
                      {"symbol": "SPY", "qty": "30", "price": "100.00"}]
    })));
    let planned = plan(
        open_market(),
        "10000",
        &[
            ("TLT", "SELL", "7000", "3960"),
            ("SPY", "BUY", "3000", "6040"),
        ],
    );
    (broker, planned)
}

/// An earlier attempt placed (and filled) the plan's sell, then died before the buy.
async fn sold_by_an_earlier_attempt(broker: &PaperBroker) {
    broker
        .place_market_order(&OrderRequest {
            symbol: Symbol::parse("TLT").unwrap(),
            side: OrderSide::Sell,
            qty: dec!(30.4),
            client_order_id: id("plan-lifecycle", OrderSide::Sell, "TLT"),
        })
        .await
        .unwrap();
}

/// Defect 3: a half-executed plan whose workflow passes its deadline before the retry comes.
/// The failure must say what was placed (and report its fill), never "no order placed".
#[tokio::test]
async fn a_started_plan_past_its_deadline_reports_the_orders_it_placed() {
    let clock = ManualClock::starting_at(open_market());
    let (broker, planned) = sell_tlt_buy_spy();
    sold_by_an_earlier_attempt(&broker).await;
    clock.advance(Duration::from_secs(31 * 60));
    let events = handler(broker.clone(), &clock)
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    let [Event::TradeExecuted(executed), Event::WorkflowFailed(failed)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(executed.orders_placed, 1);
    assert_eq!(
        executed.execution_data["orders"][0]["status"],
        json!("FILLED")
    );
    assert_eq!(
        executed.execution_data["orders"][1]["status"],
        json!("NOT_PLACED")
    );
    assert_eq!(failed.error_details["orders_placed"], json!(1));
    assert!(
        !failed.failure_reason.contains("no order placed")
            && failed
                .failure_reason
                .contains("sell TLT 30.4: FILLED 30.4 at 100.00"),
        "{}",
        failed.failure_reason
    );
    assert_eq!(
        broker.snapshot().unwrap().orders.len(),
        1,
        "nothing more placed"
    );
}

/// A started plan past its plan age but within its workflow's deadline finishes: its buys are
/// sized from what the sells really freed (the account is not left in cash).
#[tokio::test]
async fn a_started_plan_past_its_age_finishes_its_buys_from_the_sells_proceeds() {
    let clock = ManualClock::starting_at(open_market());
    let (broker, planned) = sell_tlt_buy_spy();
    sold_by_an_earlier_attempt(&broker).await;
    clock.advance(Duration::from_secs(20 * 60));
    let events = handler(broker.clone(), &clock)
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    assert!(
        matches!(
            events[..],
            [Event::TradeExecuted(_), Event::WorkflowCompleted(_)]
        ),
        "{events:?}"
    );
    let account = broker.snapshot().unwrap();
    assert_eq!(account.cash, dec!(0.00));
    let spy = account
        .positions
        .iter()
        .find(|p| p.symbol.as_str() == "SPY");
    assert_eq!(spy.map(|p| p.qty), Some(dec!(60.4)));
}

/// Defect 4: a buy the broker took but has not filled is not a success: the workflow does not
/// complete while it can still be rejected, canceled or expire. The plan asks to be looked at
/// again, and the follow-up reports the fill.
#[tokio::test]
async fn an_order_still_open_never_completes_the_workflow_and_the_follow_up_reports_its_fill() {
    let clock = ManualClock::starting_at(open_market());
    let account = paper(json!({
        "cash": "10000.00",
        "prices": {"SPY": "100.00"}
    }));
    let broker = Arc::new(
        ScriptedBroker::new(account)
            .with_clock(Arc::new(clock.clone()))
            .with_faults(|call| match call {
                Call::Place(_) => Some(Fault::FillAfter(Duration::from_secs(120))),
                _ => None,
            }),
    );
    let planned = plan(open_market(), "10000", &[("SPY", "BUY", "0", "10000")]);
    let execution = handler(broker.clone(), &clock);
    let first = execution
        .handle(&planned.clone().into(), &Delivery::in_process())
        .await
        .unwrap();
    assert!(first.events.is_empty(), "reported while open: {first:?}");
    let again = first
        .check_again
        .expect("a follow-up while the buy is open");
    assert!(
        again.why.contains("still open (buy SPY "),
        "names the open order: {}",
        again.why
    );
    // The follow-up, after the fill.
    clock.advance(again.after.max(Duration::from_secs(120)));
    let second = execution
        .handle(&planned.into(), &Delivery::in_process().follow_up(1))
        .await
        .unwrap();
    assert_eq!(second.check_again, None);
    let [Event::TradeExecuted(executed), Event::WorkflowCompleted(_)] = &second.events[..] else {
        panic!("{second:?}")
    };
    assert_eq!(executed.orders_placed, 1);
    assert_eq!(
        executed.execution_data["orders"][0]["status"],
        json!("FILLED")
    );
    assert_eq!(
        executed.execution_data["orders"][0]["filled_qty"],
        json!("100")
    );
    assert_eq!(
        executed.execution_data["total_trade_value"],
        json!("10000.00")
    );
}

/// An order that never fills is canceled at the workflow's deadline, and the workflow fails
/// naming it with what filled — never completes.
#[tokio::test]
async fn an_order_open_at_the_deadline_is_canceled_and_the_workflow_fails_naming_it() {
    let clock = ManualClock::starting_at(open_market());
    let account = paper(json!({"cash": "10000.00", "prices": {"SPY": "100.00"}}));
    let broker = Arc::new(
        ScriptedBroker::new(account)
            .with_clock(Arc::new(clock.clone()))
            .with_faults(|call| match call {
                Call::Place(_) => Some(Fault::Script(OrderScript {
                    fills: vec![(Duration::from_secs(1), rust_decimal::Decimal::new(25, 2))],
                    ending: None,
                })),
                _ => None,
            }),
    );
    let planned = plan(open_market(), "10000", &[("SPY", "BUY", "0", "10000")]);
    let execution = handler(broker.clone(), &clock);
    let mut check = 0;
    let events = loop {
        let handled = execution
            .handle(
                &planned.clone().into(),
                &Delivery::in_process().follow_up(check),
            )
            .await
            .unwrap();
        match handled.check_again {
            Some(again) => clock.advance(again.after),
            None => break handled.events,
        }
        check += 1;
        assert!(check < 50, "the plan never ended");
    };
    let [Event::TradeExecuted(executed), Event::WorkflowFailed(failed)] = &events[..] else {
        panic!("{events:?}")
    };
    let order = &executed.execution_data["orders"][0];
    assert_eq!(order["status"], json!("CANCELED"), "{order}");
    assert_eq!(order["filled_qty"], json!("25"), "{order}");
    assert_eq!(executed.orders_placed, 1);
    assert_eq!(executed.orders_succeeded, 0);
    assert!(
        failed.failure_reason.contains("SPY") && failed.failure_reason.contains("CANCELED"),
        "{}",
        failed.failure_reason
    );
    assert_eq!(failed.error_details["check"], json!("workflow_age"));
    // Nothing of the plan is open at the broker.
    assert!(broker.open_orders().await.unwrap().is_empty());
}

/// Defect 5: Saturday. Nothing is placed; the workflow fails naming the closed market.
#[tokio::test]
async fn nothing_is_placed_while_the_market_is_closed() {
    let saturday = DateTime::parse_from_rfc3339("2026-12-05T15:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let clock = ManualClock::starting_at(saturday);
    let broker = Arc::new(
        paper(json!({
            "cash": "10000.00",
            "prices": {"SPY": "100.00"}
        }))
        .with_clock(Arc::new(clock.clone()))
        .with_market_hours(MarketHours::Nyse),
    );
    let planned = plan(saturday, "10000", &[("SPY", "BUY", "0", "10000")]);
    let events = handler(broker.clone(), &clock)
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    assert!(
        broker.snapshot().unwrap().orders.is_empty(),
        "an order placed on a Saturday"
    );
    let [Event::WorkflowFailed(failed)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(failed.error_details["check"], json!("market_closed"));
    assert!(
        failed.failure_reason.contains("2026-12-07T14:30:00Z"),
        "names the next open (Monday 09:30 New York): {}",
        failed.failure_reason
    );
}

/// An order sent in the last seconds before the close could reach the broker after it, to be
/// queued for the next session: at exactly the stage's margin before the close nothing is
/// placed; a second earlier, the order goes.
#[tokio::test]
async fn nothing_is_placed_within_the_margin_before_the_close() {
    let margin = ExecutionSettings::default().stop_before_close;
    // Tuesday 2026-12-01 closes at 16:00 New York, 21:00 UTC.
    let close = DateTime::parse_from_rfc3339("2026-12-01T21:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    for (before_the_close, placed) in [(margin, false), (margin + Duration::from_secs(1), true)] {
        let now = close - chrono::TimeDelta::from_std(before_the_close).unwrap();
        let clock = ManualClock::starting_at(now);
        let broker = Arc::new(
            paper(json!({"cash": "10000.00", "prices": {"SPY": "100.00"}}))
                .with_clock(Arc::new(clock.clone()))
                .with_market_hours(MarketHours::Nyse),
        );
        let planned = plan(now, "10000", &[("SPY", "BUY", "0", "5000")]);
        let events = handler(broker.clone(), &clock)
            .handle(&planned.into(), &Delivery::in_process())
            .await
            .unwrap()
            .events;
        assert_eq!(
            broker.snapshot().unwrap().orders.is_empty(),
            !placed,
            "{before_the_close:?} before the close: {events:?}"
        );
        if !placed {
            let [Event::WorkflowFailed(failed)] = &events[..] else {
                panic!("{events:?}")
            };
            assert_eq!(failed.error_details["check"], json!("market_closed"));
        }
    }
}

/// A plan too old to trade, on an account where someone else's order is still open: the
/// refusal names the open order (the likelier cause of the delay), not only the plan's age.
#[tokio::test]
async fn a_plan_too_old_on_a_busy_account_names_the_open_order() {
    let made = open_market();
    let clock = ManualClock::starting_at(made);
    let broker = Arc::new(
        ScriptedBroker::new(paper(json!({
            "cash": "10000.00",
            "prices": {"SPY": "100.00", "QQQ": "100.00"}
        })))
        .with_clock(Arc::new(clock.clone()))
        .with_faults(|call| match call {
            Call::Place(_) => Some(Fault::Script(OrderScript::rests())),
            _ => None,
        }),
    );
    broker
        .place_market_order(&OrderRequest {
            symbol: Symbol::parse("QQQ").unwrap(),
            side: OrderSide::Buy,
            qty: dec!(5),
            client_order_id: "someone-else".into(),
        })
        .await
        .unwrap();
    let planned = plan(made, "10000", &[("SPY", "BUY", "0", "5000")]);
    clock.advance(ExecutionSettings::default().max_plan_age + Duration::from_secs(1));
    let events = handler(broker.clone(), &clock)
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    let [Event::WorkflowFailed(failed)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(failed.error_details["check"], json!("account_busy"));
    assert!(
        failed.failure_reason.contains("buy 5 QQQ"),
        "{}",
        failed.failure_reason
    );
}

/// The broker's rate limit counts requests per minute: the next look comes a minute later,
/// not at the first follow-up's few seconds.
#[tokio::test]
async fn a_rate_limited_step_looks_again_a_minute_later() {
    let clock = ManualClock::starting_at(open_market());
    let broker = Arc::new(
        ScriptedBroker::new(paper(
            json!({"cash": "10000.00", "prices": {"SPY": "100.00"}}),
        ))
        .with_clock(Arc::new(clock.clone()))
        .with_faults(|call| match call {
            Call::Account => Some(Fault::Fail(BrokerError::RateLimited("429".into()))),
            _ => None,
        }),
    );
    let planned = plan(open_market(), "10000", &[("SPY", "BUY", "0", "5000")]);
    let handled = handler(broker.clone(), &clock)
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap();
    let again = handled
        .check_again
        .as_ref()
        .expect("a follow-up after the rate limit");
    assert_eq!(again.after, Duration::from_secs(60), "{}", again.why);
    assert!(handled.events.is_empty(), "{:?}", handled.events);
}

/// Orders not sent say why: a sell of a position the account no longer holds (someone sold it
/// since the plan), and a buy the cash cannot pay for.
#[tokio::test]
async fn orders_not_sent_say_why() {
    let clock = ManualClock::starting_at(open_market());
    let broker = Arc::new(paper(json!({
        "cash": "0.00",
        "positions": [{"symbol": "GLD", "qty": "100", "price": "100.00"}],
        "prices": {"SPY": "100.00", "TLT": "100.00"}
    })));
    let planned = plan(
        open_market(),
        "10500",
        &[
            ("TLT", "SELL", "500", "0"),
            ("GLD", "HOLD", "10000", "10000"),
            ("SPY", "BUY", "0", "500"),
        ],
    );
    let events = handler(broker.clone(), &clock)
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    let Some(Event::TradeExecuted(executed)) = events.first() else {
        panic!("{events:?}")
    };
    let orders = &executed.execution_data["orders"];
    assert_eq!(
        (&orders[0]["symbol"], &orders[0]["status"]),
        (&json!("TLT"), &json!("NOT_NEEDED")),
        "{orders}"
    );
    assert_eq!(
        orders[0]["error"],
        json!("nothing to sell: the account holds 0 TLT")
    );
    assert_eq!(
        (&orders[1]["symbol"], &orders[1]["status"]),
        (&json!("SPY"), &json!("SKIPPED")),
        "{orders}"
    );
    assert_eq!(
        orders[1]["error"],
        json!("insufficient cash: 0.00 available for a 500 buy")
    );
    assert!(broker.snapshot().unwrap().orders.is_empty());
}

/// An invocation waits for fills only within its budget: the stage's wait, and never into the
/// time its deadline keeps for recording and publishing.
#[tokio::test]
async fn waiting_for_fills_never_eats_the_time_kept_for_recording() {
    let start = open_market();
    let settings = ExecutionSettings::default();
    for (deadline_in, waits_until) in [
        // The deadline leaves 10 s once its reserve is kept: the wait ends by then.
        (
            settings.deadline_reserve + Duration::from_secs(10),
            Duration::from_secs(10),
        ),
        // A distant deadline: the stage's own wait.
        (Duration::from_secs(900), settings.max_fill_wait),
    ] {
        let clock = ManualClock::starting_at(start);
        let broker = Arc::new(
            ScriptedBroker::new(paper(
                json!({"cash": "10000.00", "prices": {"SPY": "100.00"}}),
            ))
            .with_clock(Arc::new(clock.clone()))
            .with_faults(|call| match call {
                Call::Place(_) => Some(Fault::Script(OrderScript::rests())),
                _ => None,
            }),
        );
        let planned = plan(start, "10000", &[("SPY", "BUY", "0", "5000")]);
        let deadline = start + chrono::TimeDelta::from_std(deadline_in).unwrap();
        let handled = handler(broker, &clock)
            .handle(&planned.into(), &Delivery::until(Some(deadline)))
            .await
            .unwrap();
        assert!(handled.check_again.is_some(), "{handled:?}");
        let waited = (clock.now() - start).to_std().unwrap();
        assert!(
            waited <= waits_until && waited + Duration::from_secs(5) > waits_until,
            "waited {waited:?} for fills with {waits_until:?} to wait"
        );
    }
}

/// The day's buys count a buy of this plan that an earlier attempt left open at the price it
/// was sized at (a market order has no price until it fills): with 6,000 of SPY still open, a
/// 4,000 TLT buy would pass a 9,000 daily limit if the open buy counted nothing.
#[tokio::test]
async fn an_open_buy_of_the_plan_counts_toward_the_days_buys() {
    let clock = ManualClock::starting_at(open_market());
    let broker = spy_buy_placed_by_an_earlier_attempt(&clock, OrderScript::rests()).await;
    let planned = plan(
        open_market(),
        "10000",
        &[("SPY", "BUY", "0", "6000"), ("TLT", "BUY", "0", "4000")],
    );
    let mut settings = ExecutionSettings::default();
    settings.limits.max_daily_buy_notional = dec!(9000);
    let handled = ExecutionHandler::new(broker.clone(), settings)
        .with_clock(Arc::new(clock.clone()))
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap();
    let tlt_orders = broker
        .orders_since(open_market() - chrono::TimeDelta::days(1))
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.symbol.as_str() == "TLT")
        .count();
    assert_eq!(tlt_orders, 0, "{handled:?}");
    let failed = handled.events.iter().find_map(|e| match e {
        Event::WorkflowFailed(failed) => Some(failed),
        _ => None,
    });
    assert_eq!(
        failed.map(|f| &f.error_details["check"]),
        Some(&json!("max_daily_buy_notional")),
        "{handled:?}"
    );
}

/// Someone traded the account after the plan's first order (a person, another plan): the rest
/// of the plan was sized on an account that is no more; it stops, naming their order, and
/// buys nothing.
#[tokio::test]
async fn a_started_plan_stops_when_someone_else_traded_the_account_since() {
    let clock = ManualClock::starting_at(open_market());
    let (broker, planned) = sell_tlt_buy_spy();
    let broker = Arc::new(
        PaperBroker::in_memory(broker.snapshot().unwrap()).with_clock(Arc::new(clock.clone())),
    );
    sold_by_an_earlier_attempt(&broker).await;
    clock.advance(Duration::from_secs(30));
    broker
        .place_market_order(&OrderRequest {
            symbol: Symbol::parse("SPY").unwrap(),
            side: OrderSide::Sell,
            qty: dec!(3),
            client_order_id: "a-person".into(),
        })
        .await
        .unwrap();
    clock.advance(Duration::from_secs(30));
    let events = handler(broker.clone(), &clock)
        .handle(&planned.into(), &Delivery::in_process())
        .await
        .unwrap()
        .events;
    let Some(Event::WorkflowFailed(failed)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(failed.error_details["check"], json!("superseded"));
    assert!(
        failed.failure_reason.contains("sell 3 SPY"),
        "{}",
        failed.failure_reason
    );
    let bought_spy = broker
        .snapshot()
        .unwrap()
        .orders
        .iter()
        .filter(|o| o.client_order_id == id("plan-lifecycle", OrderSide::Buy, "SPY"))
        .count();
    assert_eq!(bought_spy, 0);
}
