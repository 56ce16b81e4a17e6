//! The strategy's schedule follows the broker's calendar: a scheduled tick on a holiday, or the
//! other tick of an early-close day, starts no workflow; today's run does; a manual start is not
//! judged by the schedule.

use std::sync::Arc;

use alchemiser_bus::TriggerHandler;
use alchemiser_clock::ManualClock;
use alchemiser_events::Event;
use alchemiser_trading::{
    MarketHours, PaperBroker, PortfolioFile, ReadOnlyBroker, RunAt, RunDecision, StrategyHandler,
};
use chrono::DateTime;
use serde_json::json;

fn strategy(at: &str) -> StrategyHandler {
    let clock = ManualClock::starting_at(DateTime::parse_from_rfc3339(at).unwrap().to_utc());
    let paper = PaperBroker::in_memory(PortfolioFile::from_json(r#"{"cash": "1000"}"#).unwrap())
        .with_market_hours(MarketHours::Nyse);
    let calendar = Arc::new(ReadOnlyBroker::new(Arc::new(paper)));
    StrategyHandler::from_allocation_json(r#"{"SPY": "1"}"#)
        .unwrap()
        .with_clock(Arc::new(clock))
        .with_schedule(RunAt::default(), calendar)
}

fn tick(at: &str) -> serde_json::Value {
    json!({"version": "0", "id": format!("tick-{at}"), "detail-type": "Scheduled Event",
           "source": "aws.scheduler", "time": at, "detail": {}})
}

async fn started(handler: &StrategyHandler, payload: serde_json::Value) -> Vec<Event> {
    handler.handle(&payload).await.unwrap()
}

#[tokio::test]
async fn a_tick_on_christmas_starts_nothing_and_says_why() {
    let at = "2026-12-25T20:45:00Z";
    let handler = strategy(at);
    assert!(started(&handler, tick(at)).await.is_empty());
    assert_eq!(
        handler.decide(&tick(at)).await.unwrap(),
        RunDecision::Skip("market closed: Christmas Day".into())
    );
    // A person may still start one by hand; execution then refuses the closed market.
    assert_eq!(started(&handler, json!({})).await.len(), 2);
}

#[tokio::test]
async fn an_early_close_day_runs_at_the_early_tick_only() {
    let early = "2026-11-27T17:45:00Z";
    assert_eq!(started(&strategy(early), tick(early)).await.len(), 2);
    let late = "2026-11-27T20:45:00Z";
    let handler = strategy(late);
    assert!(started(&handler, tick(late)).await.is_empty());
    let RunDecision::Skip(why) = handler.decide(&tick(late)).await.unwrap() else {
        panic!("expected a skip");
    };
    assert!(
        why.starts_with("not today's run time: today's close is 13:00"),
        "{why}"
    );
}

#[tokio::test]
async fn a_year_the_paper_calendar_does_not_know_is_a_permanent_error_naming_it() {
    let at = "2031-03-03T20:45:00Z";
    let error = strategy(at).handle(&tick(at)).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert!(error.reason().contains("2031"), "{error}");
}
