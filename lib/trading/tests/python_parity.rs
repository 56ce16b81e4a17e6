//! For the same SignalGenerated and account, the Rust plan equals the Python planner's item for
//! item: the two real workflows captured from the Python system (`examples/python/`), and the
//! edge cases where another rounding or ordering rule would give another answer (each expected
//! value below is what the Python system's own planner produced).

use std::collections::BTreeMap;
use std::sync::Arc;

use alchemiser_events::{decode, Decimal, Event, PlanItem, RebalancePlanned, Symbol, SymbolMap};
use alchemiser_trading::{
    plan_rebalance, PaperBroker, PlannerConfig, PortfolioFile, PortfolioHandler, PortfolioSnapshot,
    Position, RebalanceProposal,
};
use rust_decimal_macros::dec;
use serde_json::Value;

fn python(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../examples/python/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn rust_plan(signal: &str, account: &str) -> RebalancePlanned {
    let Event::SignalGenerated(signal) = decode(&python(signal)).unwrap().event else {
        panic!("{signal} is a SignalGenerated")
    };
    let account = String::from_utf8(python(account)).unwrap();
    let broker = PaperBroker::in_memory(PortfolioFile::from_json(&account).unwrap());
    PortfolioHandler::new(Arc::new(broker), PlannerConfig::default())
        .plan(&signal)
        .await
        .unwrap()
}

fn python_plan(name: &str) -> RebalancePlanned {
    let Event::RebalancePlanned(plan) = decode(&python(name)).unwrap().event else {
        panic!("{name} is a RebalancePlanned")
    };
    plan
}

/// The fields parity is about, as the wire writes them (exact text: "0.00", not "0").
fn items(items: &[PlanItem]) -> Vec<Value> {
    items
        .iter()
        .map(|item| serde_json::to_value(item).unwrap())
        .collect()
}

async fn assert_same_plan(signal: &str, account: &str, expected: &str) {
    let ours = rust_plan(signal, account).await;
    let theirs = python_plan(expected);
    let (ours, theirs) = (&ours.rebalance_plan, &theirs.rebalance_plan);
    assert_eq!(
        items(&ours.items),
        items(&theirs.items),
        "{expected}: items"
    );
    assert_eq!(
        ours.total_trade_value.to_string(),
        theirs.total_trade_value.to_string()
    );
    assert_eq!(
        ours.total_portfolio_value.to_string(),
        theirs.total_portfolio_value.to_string()
    );
    assert_eq!(ours.max_drift_tolerance, theirs.max_drift_tolerance);
}

#[tokio::test]
async fn workflow_00_six_symbols_from_cash_matches_item_for_item() {
    assert_same_plan(
        "wf00-2-SignalGenerated.json",
        "wf00-account.json",
        "wf00-3-RebalancePlanned.json",
    )
    .await;
}

#[tokio::test]
async fn workflow_01_one_symbol_from_cash_matches_item_for_item() {
    assert_same_plan(
        "wf01-2-SignalGenerated.detail-string.json",
        "wf01-account.json",
        "wf01-3-RebalancePlanned.json",
    )
    .await;
}

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

fn plan(
    target: &[(&str, Decimal)],
    cash: Decimal,
    held: &[(&str, Decimal, Decimal)],
    quotes: &[(&str, Decimal)],
    stated_value: Option<Decimal>,
) -> RebalanceProposal {
    let target: SymbolMap<Decimal> = target.iter().map(|(s, w)| (sym(s), *w)).collect();
    let snapshot = PortfolioSnapshot {
        cash,
        positions: held
            .iter()
            .map(|(s, qty, price)| Position {
                symbol: sym(s),
                qty: *qty,
                price: *price,
            })
            .collect(),
        prices: quotes
            .iter()
            .map(|(s, p)| (sym(s), *p))
            .collect::<BTreeMap<_, _>>(),
        portfolio_value: stated_value,
    };
    plan_rebalance(&target, &snapshot, &PlannerConfig::default()).unwrap()
}

/// `(symbol, action, trade_amount, target_value, priority)` of each item, in plan order.
fn rows(proposal: &RebalanceProposal) -> Vec<(String, String, String, String, u8)> {
    proposal
        .items
        .iter()
        .map(|i| {
            (
                i.symbol.to_string(),
                i.action.to_string(),
                i.trade_amount.to_string(),
                i.target_value.to_string(),
                i.priority,
            )
        })
        .collect()
}

fn row(
    s: &str,
    action: &str,
    trade: &str,
    target: &str,
    priority: u8,
) -> (String, String, String, String, u8) {
    (
        s.into(),
        action.into(),
        trade.into(),
        target.into(),
        priority,
    )
}

#[test]
fn money_rounds_half_up_not_to_even() {
    // E = 1003.00 × 0.99 = 992.97; half of it is 496.485 → 496.49 (banker's rounding: 496.48).
    let proposal = plan(
        &[("SPY", dec!(0.5)), ("BIL", dec!(0.5))],
        dec!(1003.00),
        &[],
        &[("SPY", dec!(500)), ("BIL", dec!(90))],
        None,
    );
    assert_eq!(
        rows(&proposal),
        [
            row("BIL", "BUY", "496.49", "496.49", 3),
            row("SPY", "BUY", "496.49", "496.49", 3)
        ]
    );
    assert_eq!(proposal.total_trade_value.to_string(), "992.98");
}

#[test]
fn weights_round_half_up_and_values_come_from_the_raw_weight() {
    let proposal = plan(
        &[("AAA", dec!(0.12345)), ("BBB", dec!(0.87655))],
        dec!(10000),
        &[],
        &[("AAA", dec!(10)), ("BBB", dec!(10))],
        None,
    );
    let weights: Vec<String> = proposal
        .items
        .iter()
        .map(|i| i.target_weight.to_string())
        .collect();
    // Both are BUYs of priority 2: they stay in symbol order.
    assert_eq!(weights, ["0.1235", "0.8766"]);
    let values: Vec<String> = proposal
        .items
        .iter()
        .map(|i| i.target_value.to_string())
        .collect();
    assert_eq!(values, ["1222.16", "8677.85"]);
    assert_eq!(proposal.total_trade_value.to_string(), "9900.01");
}

#[test]
fn a_trade_is_rounded_from_raw_values_and_a_small_one_is_held_where_it_stands() {
    // The broker states 1,200.01; the positions are worth 500.005 + 180 + 100 and the cash 420.
    let proposal = plan(
        &[("SPY", dec!(0.5)), ("QQQ", dec!(0.42)), ("TLT", dec!(0.08))],
        dec!(420),
        &[
            ("SPY", dec!(0.5), dec!(1000.01)),
            ("GLD", dec!(0.9), dec!(200)),
            ("TLT", dec!(1), dec!(100)),
        ],
        &[("QQQ", dec!(400))],
        Some(dec!(1200.01)),
    );
    assert_eq!(
        rows(&proposal),
        [
            row("GLD", "SELL", "-180.00", "0.00", 3),
            // −4.96 is below the minimum (12.00): held, in the SELL block where it was sorted.
            row("TLT", "HOLD", "0.00", "95.04", 5),
            row("QQQ", "BUY", "498.96", "498.96", 3),
            // raw 594.00495 − 500.005 = 93.99995 → 94.00 (not 594.00 − 500.01 = 93.99)
            row("SPY", "BUY", "94.00", "594.00", 4),
        ]
    );
    assert_eq!(proposal.items[3].current_value.to_string(), "500.01");
    assert_eq!(proposal.total_trade_value.to_string(), "772.96");
}

#[test]
fn weights_are_relative_to_the_larger_of_what_is_held_and_what_is_targeted() {
    let proposal = plan(
        &[("SPY", dec!(1.0))],
        dec!(5),
        &[("SPY", dec!(1), dec!(995))],
        &[],
        None,
    );
    let spy = &proposal.items[0];
    assert_eq!(spy.current_weight.to_string(), "1.0000");
    assert_eq!(spy.target_weight.to_string(), "0.9950");
    assert_eq!(spy.weight_diff.to_string(), "-0.0050");
    assert_eq!(spy.target_value.to_string(), "990.00");
    assert_eq!(
        (spy.action.to_string(), spy.trade_amount.to_string()),
        ("HOLD".into(), "0.00".into())
    );
}

#[test]
fn a_tiny_weight_keeps_its_target_and_is_held() {
    let proposal = plan(
        &[("SPY", dec!(0.99996)), ("BIL", dec!(0.00004))],
        dec!(1000),
        &[],
        &[("SPY", dec!(100)), ("BIL", dec!(90))],
        None,
    );
    assert_eq!(
        rows(&proposal),
        [
            row("SPY", "BUY", "989.96", "989.96", 3),
            row("BIL", "HOLD", "0.00", "0.04", 5),
        ]
    );
    assert_eq!(proposal.items[1].target_weight.to_string(), "0.0000");
}
