//! The DynamoDB idempotency store against moto's DynamoDB (scripts/moto): conditional claims,
//! lapsed claims, and a RebalancePlanned delivered three times concurrently and three times in
//! sequence placing its orders exactly once.
//!
//! Run by scripts/test, which starts moto and sets ALCHEMISER_TEST_DYNAMODB_ENDPOINT.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::InMemoryBus;
use alchemiser_events::{Decimal, HandlerName, Symbol};
use alchemiser_lambda::metrics::Metrics;
use alchemiser_lambda::{
    Claim, DynamoDbStore, IdempotencyConfig, IdempotencyStore, InvocationError, Invoke, Invoker,
    MemoryFailureSink, StoredResult,
};
use alchemiser_trading::{
    Account, Broker, BrokerError, ExecutionHandler, OrderOutcome, OrderRequest, PaperBroker,
    PortfolioFile, Position,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use chrono::Utc;
use serde_json::Value;

const PLAN: &str = include_str!("../../../examples/events/RebalancePlanned.eventbridge.json");

fn endpoint() -> String {
    std::env::var("ALCHEMISER_TEST_DYNAMODB_ENDPOINT").expect(
        "ALCHEMISER_TEST_DYNAMODB_ENDPOINT is not set: run this test through scripts/test, which starts moto",
    )
}

async fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A fresh table per test, shaped like the stack's (`pk` string key).
async fn table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = format!("idempotency-test-{}", uuid_like());
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("moto creates the table");
    name
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

async fn store(config: IdempotencyConfig) -> DynamoDbStore {
    let client = client(&endpoint()).await;
    let name = table(&client).await;
    DynamoDbStore::new(client, name, config)
}

#[tokio::test]
async fn claims_are_exclusive_and_completed_records_are_returned() {
    let store = store(IdempotencyConfig::default()).await;
    let now = Utc::now();
    assert_eq!(
        store.claim("execution#e1", now).await.unwrap(),
        Claim::Acquired
    );
    assert!(matches!(
        store.claim("execution#e1", now).await.unwrap(),
        Claim::InProgress { .. }
    ));
    let result = StoredResult {
        events: vec![serde_json::json!({"a": 1})],
        published: true,
    };
    store.complete("execution#e1", &result, now).await.unwrap();
    assert_eq!(
        store.claim("execution#e1", now).await.unwrap(),
        Claim::Completed(result)
    );
    // Keys are per handler: the monitor handling the same event id is a different claim.
    assert_eq!(
        store.claim("monitor#e1", now).await.unwrap(),
        Claim::Acquired
    );
}

#[tokio::test]
async fn a_lapsed_in_progress_claim_can_be_taken_over_and_a_released_one_at_once() {
    let store = store(IdempotencyConfig {
        in_progress_expiry: Duration::from_secs(60),
        ..Default::default()
    })
    .await;
    let now = Utc::now();
    assert_eq!(
        store.claim("execution#e2", now).await.unwrap(),
        Claim::Acquired
    );
    let later = now + Duration::from_secs(61);
    assert_eq!(
        store.claim("execution#e2", later).await.unwrap(),
        Claim::Acquired,
        "a timed-out invocation's claim lapses"
    );
    store.release("execution#e2").await.unwrap();
    assert_eq!(
        store.claim("execution#e2", later).await.unwrap(),
        Claim::Acquired
    );
}

#[tokio::test]
async fn an_unreachable_table_is_an_error_not_a_claim() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let store = DynamoDbStore::new(client(&dead).await, "absent", IdempotencyConfig::default());
    let error = store.claim("execution#e3", Utc::now()).await.unwrap_err();
    assert!(
        error.to_string().contains("idempotency store unavailable"),
        "{error}"
    );
    // And a table that does not exist is just as unusable.
    let store = DynamoDbStore::new(
        client(&endpoint()).await,
        "no-such-table",
        IdempotencyConfig::default(),
    );
    assert!(store.claim("execution#e3", Utc::now()).await.is_err());
}

/// Counts every order that reaches the broker, without the paper broker's own dedup getting
/// in the way of what this test proves.
struct CountingBroker {
    inner: PaperBroker,
    orders: AtomicUsize,
}

#[async_trait]
impl Broker for CountingBroker {
    async fn account(&self) -> Result<Account, BrokerError> {
        self.inner.account().await
    }
    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        self.inner.positions().await
    }
    async fn latest_price(&self, symbol: &Symbol) -> Result<Decimal, BrokerError> {
        self.inner.latest_price(symbol).await
    }
    async fn place_market_order(&self, order: &OrderRequest) -> Result<OrderOutcome, BrokerError> {
        self.orders.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.inner.place_market_order(order).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_delivered_three_times_concurrently_and_in_sequence_trades_once() {
    let store: Arc<dyn IdempotencyStore> = Arc::new(store(IdempotencyConfig::default()).await);
    let broker = Arc::new(CountingBroker {
        inner: PaperBroker::in_memory(
            PortfolioFile::from_json(
                r#"{"cash": "0.00", "positions": [
                    {"symbol": "SPY", "qty": "30", "price": "100.00"},
                    {"symbol": "TLT", "qty": "70", "price": "100.00"}]}"#,
            )
            .unwrap(),
        ),
        orders: AtomicUsize::new(0),
    });
    // Three "Lambda environments", each with its own invoker, sharing the table and broker.
    let environments: Vec<Arc<dyn Invoke>> = (0..3)
        .map(|_| {
            Arc::new(Invoker::new(
                HandlerName::Execution,
                Arc::new(ExecutionHandler::new(broker.clone(), false)),
                store.clone(),
                Arc::new(InMemoryBus::new()),
                Arc::new(MemoryFailureSink::default()),
                Metrics::Off,
            )) as Arc<dyn Invoke>
        })
        .collect();
    let payload: Value = serde_json::from_str(PLAN).unwrap();
    let concurrent: Vec<_> = environments
        .iter()
        .map(|invoker| {
            let invoker = invoker.clone();
            let payload = payload.clone();
            tokio::spawn(async move { invoker.invoke(payload).await })
        })
        .collect();
    let mut handled = 0;
    let mut busy = 0;
    for task in concurrent {
        match task.await.unwrap() {
            Ok(alchemiser_lambda::InvocationOutcome::Handled { .. }) => handled += 1,
            Ok(alchemiser_lambda::InvocationOutcome::Duplicate { .. }) => {}
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
        let outcome = environments[0].invoke(payload.clone()).await.unwrap();
        assert!(matches!(
            outcome,
            alchemiser_lambda::InvocationOutcome::Duplicate { .. }
        ));
    }
    for invoker in &environments {
        let outcome = invoker.invoke(payload.clone()).await.unwrap();
        assert!(
            matches!(
                outcome,
                alchemiser_lambda::InvocationOutcome::Duplicate { .. }
            ),
            "{outcome:?}"
        );
    }
    assert_eq!(
        broker.orders.load(Ordering::SeqCst),
        2,
        "two plan items, two orders, once"
    );
    println!("6 deliveries: 1 handled, {busy} told to retry while in progress, the rest duplicates; 2 orders placed");
}
