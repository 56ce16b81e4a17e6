//! The execution function over moto's DynamoDB (scripts/moto): a RebalancePlanned delivered
//! three times concurrently to three "Lambda environments" and three times in sequence places
//! its orders exactly once.
//!
//! Run by scripts/test, which starts moto and sets ALCHEMISER_TEST_DYNAMODB_ENDPOINT.

use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::InMemoryBus;
use alchemiser_deadletters::MemoryDeadLetterRecorder;
use alchemiser_events::HandlerName;
use alchemiser_lambda::idempotency::{DynamoDbStore, IdempotencyConfig, IdempotencyStore};
use alchemiser_lambda::metrics::Metrics;
use alchemiser_lambda::{
    Adapters, InvocationContext, InvocationError, InvocationOutcome, Invoke, Invoker,
};
use alchemiser_testkit::{sdk_at, unique, Emulator};
use alchemiser_trading::{
    ExecutionHandler, ExecutionSettings, PaperBroker, PortfolioFile, ScriptedBroker,
};
use serde_json::Value;

/// Execution settings for the captured example plans, which are older than any stage would
/// trade (their age is not what these tests are about).
fn captured() -> ExecutionSettings {
    ExecutionSettings {
        max_plan_age: std::time::Duration::from_secs(100 * 366 * 24 * 3600),
        max_workflow_age: std::time::Duration::from_secs(100 * 366 * 24 * 3600),
        ..ExecutionSettings::default()
    }
}

const PLAN: &str = include_str!("../../../examples/events/RebalancePlanned.eventbridge.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_delivered_three_times_concurrently_and_in_sequence_trades_once() {
    let endpoint = std::env::var("ALCHEMISER_TEST_DYNAMODB_ENDPOINT").expect(
        "ALCHEMISER_TEST_DYNAMODB_ENDPOINT is not set: run this test through scripts/test, which starts moto",
    );
    let mut emulator = Emulator::with_sdk(&sdk_at(Some(&endpoint)).await);
    let table = unique("idempotency-test-");
    emulator.table(&table).await;
    let store: Arc<dyn IdempotencyStore> = Arc::new(DynamoDbStore::new(
        emulator.dynamodb.clone(),
        table,
        IdempotencyConfig::default(),
    ));
    // Every order waits a little, so the three deliveries overlap.
    let broker = Arc::new(
        ScriptedBroker::new(PaperBroker::in_memory(
            PortfolioFile::from_json(
                r#"{"cash": "0.00", "positions": [
                    {"symbol": "SPY", "qty": "30", "price": "100.00"},
                    {"symbol": "TLT", "qty": "70", "price": "100.00"}]}"#,
            )
            .unwrap(),
        ))
        .with_order_delay(Duration::from_millis(50)),
    );
    // Three "Lambda environments", each with its own invoker, sharing the table and broker.
    let environments: Vec<Arc<dyn Invoke>> = (0..3)
        .map(|_| {
            let adapters = Adapters {
                follow_ups: Some(Arc::new(
                    alchemiser_lambda::follow_ups::MemoryFollowUps::new(),
                )),
                authenticity: alchemiser_lambda::signing::Authenticity::in_process(),
                store: store.clone(),
                bus: Arc::new(InMemoryBus::new()),
                dead_letters: Arc::new(MemoryDeadLetterRecorder::default()),
                metrics: Metrics::Off,
                idempotency: IdempotencyConfig::default(),
                clock: alchemiser_clock::system(),
            };
            Arc::new(Invoker::new(
                HandlerName::Execution,
                Arc::new(ExecutionHandler::new(broker.clone(), captured())),
                adapters,
            )) as Arc<dyn Invoke>
        })
        .collect();
    let payload: Value = serde_json::from_str(PLAN).unwrap();
    let context = InvocationContext::local();
    let concurrent: Vec<_> = environments
        .iter()
        .map(|invoker| {
            let invoker = invoker.clone();
            let payload = payload.clone();
            let context = context.clone();
            tokio::spawn(async move { invoker.invoke(payload, &context).await })
        })
        .collect();
    let mut handled = 0;
    let mut busy = 0;
    for task in concurrent {
        match task.await.unwrap() {
            Ok(InvocationOutcome::Handled { .. }) => handled += 1,
            Ok(InvocationOutcome::Duplicate { .. }) => {}
            Err(InvocationError::Transient(reason))
                if reason.contains("being handled by another invocation") =>
            {
                busy += 1
            }
            other => panic!("unexpected outcome: {other:?}"),
        }
    }
    assert_eq!(
        handled, 1,
        "exactly one concurrent delivery runs the handler"
    );
    // Lambda retries the busy ones later; by then the first has completed.
    for _ in 0..busy {
        let outcome = environments[0]
            .invoke(payload.clone(), &context)
            .await
            .unwrap();
        assert!(matches!(outcome, InvocationOutcome::Duplicate { .. }));
    }
    for invoker in &environments {
        let outcome = invoker.invoke(payload.clone(), &context).await.unwrap();
        assert!(
            matches!(outcome, InvocationOutcome::Duplicate { .. }),
            "{outcome:?}"
        );
    }
    assert_eq!(broker.orders_sent(), 2, "two plan items, two orders, once");
    println!("6 deliveries: 1 handled, {busy} told to retry while in progress, the rest duplicates; 2 orders placed");
    emulator.cleanup().await;
}
