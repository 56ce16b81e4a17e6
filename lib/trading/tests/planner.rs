//! The planner's rules, one test each, and the Python system's own example reproduced exactly.

use std::sync::Arc;

use alchemiser_events::{decode, Decimal, Event, PlanItem, Symbol, SymbolMap, TradeAction};
use alchemiser_trading::{
    plan_rebalance, PaperBroker, PlanError, PlannerConfig, PortfolioFile, PortfolioHandler,
    PortfolioSnapshot, Position,
};
use rust_decimal_macros::dec;
use serde_json::json;

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

fn target(weights: &[(&str, Decimal)]) -> SymbolMap<Decimal> {
    weights.iter().map(|(s, w)| (sym(s), *w)).collect()
}

fn snapshot(
    cash: Decimal,
    held: &[(&str, Decimal, Decimal)],
    quotes: &[(&str, Decimal)],
) -> PortfolioSnapshot {
    PortfolioSnapshot {
        cash,
        positions: held
            .iter()
            .map(|(s, qty, price)| Position {
                symbol: sym(s),
                qty: *qty,
                price: *price,
            })
            .collect(),
        prices: quotes.iter().map(|(s, p)| (sym(s), *p)).collect(),
        portfolio_value: None,
    }
}

fn item<'a>(items: &'a [PlanItem], symbol: &str) -> &'a PlanItem {
    items.iter().find(|i| i.symbol.as_str() == symbol).unwrap()
}

#[tokio::test]
async fn reproduces_the_python_systems_rebalance_planned_example() {
    let signal = decode(include_bytes!(
        "../../../examples/events/SignalGenerated.eventbridge.json"
    ))
    .unwrap();
    let expected = decode(include_bytes!(
        "../../../examples/events/RebalancePlanned.eventbridge.json"
    ))
    .unwrap();
    let Event::SignalGenerated(signal) = signal.event else {
        panic!()
    };
    let Event::RebalancePlanned(expected) = expected.event else {
        panic!()
    };

    let account = PortfolioFile::from_json(
        r#"{"cash": "0.00", "positions": [
            {"symbol": "SPY", "qty": "30", "price": "100.00"},
            {"symbol": "TLT", "qty": "70", "price": "100.00"}]}"#,
    )
    .unwrap();
    let handler = PortfolioHandler::new(
        Arc::new(PaperBroker::in_memory(account)),
        PlannerConfig::default(),
    );
    let planned = handler.plan(&signal).await.unwrap();

    let ours = serde_json::to_value(&planned).unwrap();
    let theirs = serde_json::to_value(&expected).unwrap();
    for pointer in [
        "/rebalance_plan/items",
        "/rebalance_plan/total_portfolio_value",
        "/rebalance_plan/total_trade_value",
        "/rebalance_plan/max_drift_tolerance",
        "/rebalance_plan/execution_urgency",
        "/rebalance_plan/estimated_duration_minutes",
        "/rebalance_plan/strategy_id",
        "/rebalance_plan/metadata",
        "/rebalance_plan/causation_id",
        "/rebalance_plan/correlation_id",
        "/allocation_comparison",
        "/trades_required",
        "/correlation_id",
        "/causation_id",
    ] {
        assert_eq!(
            ours.pointer(pointer),
            theirs.pointer(pointer),
            "{pointer} differs"
        );
    }
    // Exact text, not just equal values: "5940.00", not "5940".
    assert_eq!(
        ours.pointer("/rebalance_plan/items/0/target_value")
            .unwrap(),
        &json!("3960.00")
    );
    assert_eq!(
        ours.pointer("/rebalance_plan/items/0/current_weight")
            .unwrap(),
        &json!("0.7000")
    );
}

#[test]
fn portfolio_value_is_cash_plus_positions_and_targets_use_the_cash_reserve() {
    let plan = plan_rebalance(
        &target(&[("SPY", dec!(1))]),
        &snapshot(dec!(500), &[("SPY", dec!(10), dec!(50))], &[]),
        &PlannerConfig::default(),
    )
    .unwrap();
    assert_eq!(plan.total_portfolio_value, dec!(1000.00));
    // 1000 × (1 − 0.01) = 990 of SPY; 500 held.
    let spy = item(&plan.items, "SPY");
    assert_eq!(spy.target_value.to_string(), "990.00");
    assert_eq!(spy.trade_amount.to_string(), "490.00");
    assert_eq!(spy.action, TradeAction::Buy);
}

#[test]
fn held_symbols_outside_the_target_are_sold_to_zero() {
    let plan = plan_rebalance(
        &target(&[("SPY", dec!(1))]),
        &snapshot(
            dec!(0),
            &[("SPY", dec!(50), dec!(100)), ("GLD", dec!(10), dec!(200))],
            &[],
        ),
        &PlannerConfig::default(),
    )
    .unwrap();
    let gld = item(&plan.items, "GLD");
    assert_eq!(gld.target_value.to_string(), "0.00");
    assert_eq!(gld.target_weight.to_string(), "0.0000");
    assert_eq!(gld.trade_amount.to_string(), "-2000.00");
    assert_eq!(gld.action, TradeAction::Sell);
}

#[test]
fn trades_below_the_minimum_become_hold() {
    // Portfolio 10,000: minimum trade 100. SPY is 99.00 short of target: HOLD; TLT 100 over: SELL.
    let plan = plan_rebalance(
        &target(&[("SPY", dec!(0.5)), ("TLT", dec!(0.5))]),
        &snapshot(
            dec!(0),
            &[
                ("SPY", dec!(48.51), dec!(100)),
                ("TLT", dec!(51.49), dec!(100)),
            ],
            &[],
        ),
        &PlannerConfig {
            cash_reserve: dec!(0),
            ..PlannerConfig::default()
        },
    )
    .unwrap();
    assert_eq!(item(&plan.items, "SPY").trade_amount.to_string(), "149.00");
    let plan = plan_rebalance(
        &target(&[("SPY", dec!(0.5)), ("TLT", dec!(0.5))]),
        &snapshot(
            dec!(0),
            &[
                ("SPY", dec!(49.01), dec!(100)),
                ("TLT", dec!(50.99), dec!(100)),
            ],
            &[],
        ),
        &PlannerConfig {
            cash_reserve: dec!(0),
            ..PlannerConfig::default()
        },
    )
    .unwrap();
    let spy = item(&plan.items, "SPY");
    // As the Python planner writes a held trade: 0.00, the target kept.
    assert_eq!(spy.trade_amount.to_string(), "0.00");
    assert_eq!(spy.target_value.to_string(), "5000.00");
    assert_eq!(spy.action, TradeAction::Hold);
    assert!(!plan.trades_required);
    assert_eq!(plan.total_trade_value.to_string(), "0.00");
}

#[test]
fn money_rounds_half_up_to_cents_and_weights_to_four_places() {
    // 1/3 weights of 1000.00 × 0.99 = 329.999… → 330.00; weight 0.33333 → 0.3333.
    let plan = plan_rebalance(
        &target(&[
            ("AAA", dec!(0.33333)),
            ("BBB", dec!(0.33333)),
            ("CCC", dec!(0.33334)),
        ]),
        &snapshot(
            dec!(1000),
            &[],
            &[("AAA", dec!(1)), ("BBB", dec!(1)), ("CCC", dec!(1))],
        ),
        &PlannerConfig::default(),
    )
    .unwrap();
    let aaa = item(&plan.items, "AAA");
    assert_eq!(aaa.target_value.to_string(), "330.00");
    assert_eq!(aaa.target_weight.to_string(), "0.3333");
    // 0.005 rounds up, not to even.
    let plan = plan_rebalance(
        &target(&[("AAA", dec!(1))]),
        &snapshot(dec!(0), &[("AAA", dec!(1), dec!(0.125))], &[]),
        &PlannerConfig {
            cash_reserve: dec!(0),
            min_trade_fraction: dec!(0),
            ..PlannerConfig::default()
        },
    )
    .unwrap();
    assert_eq!(item(&plan.items, "AAA").current_value.to_string(), "0.13");
}

#[test]
fn priority_follows_the_trade_size() {
    let cases = [
        (dec!(10000), 1),
        (dec!(9999.99), 2),
        (dec!(1000), 2),
        (dec!(100), 3),
        (dec!(50), 4),
        (dec!(49.99), 5),
    ];
    for (amount, expected) in cases {
        // A cash-only account with no reserve buys exactly `amount`.
        let plan = plan_rebalance(
            &target(&[("AAA", dec!(1))]),
            &snapshot(amount, &[], &[("AAA", dec!(1))]),
            &PlannerConfig {
                cash_reserve: dec!(0),
                min_trade_fraction: dec!(0),
                ..PlannerConfig::default()
            },
        )
        .unwrap();
        assert_eq!(plan.items[0].priority, expected, "amount {amount}");
    }
}

#[test]
fn items_are_sorted_sell_buy_hold_then_by_priority() {
    let plan = plan_rebalance(
        &target(&[("AAA", dec!(0.5)), ("BBB", dec!(0.3)), ("CCC", dec!(0.2))]),
        &snapshot(
            dec!(0),
            &[
                ("AAA", dec!(20), dec!(100)),
                ("BBB", dec!(80), dec!(100)),
                ("DDD", dec!(2), dec!(100)),
                ("CCC", dec!(200), dec!(10)),
            ],
            &[],
        ),
        &PlannerConfig {
            cash_reserve: dec!(0),
            ..PlannerConfig::default()
        },
    )
    .unwrap();
    // Value 12,200, minimum trade 122. AAA +4100 BUY(2); BBB −4340 SELL(2); CCC +440 BUY(3);
    // DDD −200 SELL(3).
    let order: Vec<_> = plan
        .items
        .iter()
        .map(|i| (i.symbol.as_str(), i.action, i.priority))
        .collect();
    assert_eq!(
        order,
        [
            ("BBB", TradeAction::Sell, 2),
            ("DDD", TradeAction::Sell, 3),
            ("AAA", TradeAction::Buy, 2),
            ("CCC", TradeAction::Buy, 3),
        ]
    );
    assert_eq!(plan.total_trade_value.to_string(), "9080.00");
    assert!(plan.trades_required);
}

#[test]
fn allocation_comparison_is_in_dollars_and_weights_follow_values() {
    let plan = plan_rebalance(
        &target(&[("SPY", dec!(0.6)), ("TLT", dec!(0.4))]),
        &snapshot(
            dec!(0),
            &[("SPY", dec!(30), dec!(100)), ("TLT", dec!(70), dec!(100))],
            &[],
        ),
        &PlannerConfig::default(),
    )
    .unwrap();
    let comparison = &plan.allocation_comparison;
    assert_eq!(comparison.target_values[&sym("SPY")].to_string(), "5940.00");
    assert_eq!(
        comparison.current_values[&sym("TLT")].to_string(),
        "7000.00"
    );
    assert_eq!(comparison.deltas[&sym("TLT")].to_string(), "-3040.00");
    // Weights are relative to the larger of Σ current (10,000) and Σ target (9,900) values.
    let spy = item(&plan.items, "SPY");
    assert_eq!(spy.current_weight.to_string(), "0.3000");
    assert_eq!(spy.target_weight.to_string(), "0.5940");
    assert_eq!(spy.weight_diff.to_string(), "0.2940");
}

#[test]
fn errors_name_what_is_wrong() {
    let config = PlannerConfig::default();
    assert_eq!(
        plan_rebalance(
            &target(&[("SPY", dec!(1))]),
            &snapshot(dec!(0), &[], &[("SPY", dec!(1))]),
            &config
        ),
        Err(PlanError::EmptyPortfolio(dec!(0.00)))
    );
    let missing = plan_rebalance(
        &target(&[("SPY", dec!(1))]),
        &snapshot(dec!(100), &[], &[]),
        &config,
    )
    .unwrap_err();
    assert!(
        missing.to_string().contains("no price for `SPY`"),
        "{missing}"
    );
    let bad = plan_rebalance(
        &target(&[("SPY", dec!(1))]),
        &snapshot(dec!(100), &[], &[("SPY", dec!(0))]),
        &config,
    )
    .unwrap_err();
    assert!(bad.to_string().contains("prices must be positive"), "{bad}");
    let knob = plan_rebalance(
        &target(&[("SPY", dec!(1))]),
        &snapshot(dec!(100), &[], &[("SPY", dec!(1))]),
        &PlannerConfig {
            cash_reserve: dec!(1),
            ..config
        },
    )
    .unwrap_err();
    assert!(knob.to_string().contains("cash_reserve"), "{knob}");
}
