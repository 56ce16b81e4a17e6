//! The README's settings table ("Settings of execution and the strategy") says what the code
//! does: each row's default is the default the code applies when the variable is unset, every
//! variable the stack sets for a trading need has a row, and a row names no variable the code
//! does not read. A default changed in the code without the README (or the reverse) fails here,
//! naming the variable.

use std::collections::BTreeMap;
use std::time::Duration;

use alchemiser_events::{Decimal, HandlerName, Need, DEFAULT_WORKFLOW_DEADLINE};
use alchemiser_trading::{ExecutionSettings, RiskLimits, RunAt};

const SECTION: &str = "## Settings of execution and the strategy";

/// Variable → its default column, from the README's table.
fn readme_defaults() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md is readable");
    let section = readme
        .split(SECTION)
        .nth(1)
        .expect("the README has its settings section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|line| line.starts_with("| ")) {
        let cells: Vec<&str> = line.split(" | ").map(str::trim).collect();
        let Some(variable_cell) = cells.get(1) else {
            continue;
        };
        // The variable is the first `CODE` of the cell, when it is an environment variable.
        let Some(variable) = variable_cell.split('`').nth(1) else {
            continue;
        };
        if variable.chars().all(|c| c.is_ascii_uppercase() || c == '_') && !variable.is_empty() {
            rows.insert(
                variable.to_owned(),
                cells.get(2).copied().unwrap_or_default().to_owned(),
            );
        }
    }
    rows
}

/// Variable → the default the code applies, written as the README writes it.
fn code_defaults() -> BTreeMap<&'static str, String> {
    let execution = ExecutionSettings::default();
    let limits = RiskLimits::default();
    let seconds = |d: Duration| d.as_secs().to_string();
    let amount = |d: Decimal| d.normalize().to_string();
    let run_at = RunAt::default();
    BTreeMap::from([
        ("MAX_ORDER_NOTIONAL", amount(limits.max_order_notional)),
        ("MAX_PLAN_TURNOVER", amount(limits.max_plan_turnover)),
        (
            "MAX_DAILY_BUY_NOTIONAL",
            amount(limits.max_daily_buy_notional),
        ),
        ("MAX_DAILY_ORDERS", limits.max_daily_orders.to_string()),
        (
            "MAX_FAILED_SELL_NOTIONAL",
            amount(limits.max_failed_sell_notional),
        ),
        (
            "BUY_ALLOW_LIST",
            if limits.buy_allow_list.is_empty() {
                "any".into()
            } else {
                format!("{:?}", limits.buy_allow_list)
            },
        ),
        ("TRADING_HALT_PARAMETER", "not halted".into()),
        (
            "STOP_BEFORE_CLOSE_SECONDS",
            seconds(execution.stop_before_close),
        ),
        ("MAX_PLAN_AGE_SECONDS", seconds(execution.max_plan_age)),
        (
            "WORKFLOW_DEADLINE_SECONDS",
            seconds(execution.max_workflow_age),
        ),
        ("MAX_FILL_WAIT_SECONDS", seconds(execution.max_fill_wait)),
        (
            "ALLOW_REPLAY_EXECUTION",
            execution.allow_replay_execution.to_string(),
        ),
        (
            "STRATEGY_RUN_AT",
            format!(
                "{}, {}",
                format!("{:?}", run_at.anchor).to_lowercase(),
                run_at.offset_minutes
            ),
        ),
    ])
}

#[test]
fn every_default_in_the_readme_is_the_codes() {
    let readme = readme_defaults();
    let code = code_defaults();
    let mut wrong = Vec::new();
    for (variable, documented) in &readme {
        match code.get(variable.as_str()) {
            None => wrong.push(format!(
                "{variable}: in the README, but no setting the code reads"
            )),
            // The README may explain after the value: "500 (0: any failed sell)".
            Some(actual)
                if !(documented == actual || documented.starts_with(&format!("{actual} "))) =>
            {
                wrong.push(format!(
                    "{variable}: the README says {documented:?}, the code's default is {actual:?}"
                ))
            }
            Some(_) => {}
        }
    }
    for variable in code.keys() {
        if !readme.contains_key(*variable) {
            wrong.push(format!(
                "{variable}: read by the code, not in the README's settings table"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "README.md \"{SECTION}\" is stale:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_workflow_deadline_is_one_fact() {
    // Execution stops trading a workflow when the monitor times it out: the same default.
    assert_eq!(
        ExecutionSettings::default().max_workflow_age,
        DEFAULT_WORKFLOW_DEADLINE
    );
}

#[test]
fn every_variable_the_stack_sets_for_trading_is_documented() {
    let readme = readme_defaults();
    let mut undocumented = Vec::new();
    for need in [Need::RiskLimits, Need::TradingHalt, Need::WorkflowDeadline] {
        for variable in need.variables() {
            if !readme.contains_key(*variable) {
                undocumented.push(format!("{variable} ({need})"));
            }
        }
    }
    assert!(
        HandlerName::Execution.needs(Need::RiskLimits),
        "execution is the handler the table documents"
    );
    assert!(
        undocumented.is_empty(),
        "not in the README's settings table: {undocumented:?}"
    );
}
