//! The DynamoDB idempotency store against moto's DynamoDB (scripts/moto): exclusive claims,
//! completed records returned by the failed claim itself, lapsed and released claims, expired
//! records, payloads that do not match their key, and an unreachable table.
//!
//! Run by scripts/test, which starts moto and sets ALCHEMISER_TEST_DYNAMODB_ENDPOINT.

use std::time::Duration;

use alchemiser_lambda::idempotency::{
    payload_hash, Claim, ClaimRequest, DynamoDbStore, IdempotencyConfig, IdempotencyStore,
    StoredResult,
};
use alchemiser_testkit::{sdk_at, unique, Emulator};
use chrono::{DateTime, Utc};
use serde_json::json;

fn endpoint() -> String {
    std::env::var("ALCHEMISER_TEST_DYNAMODB_ENDPOINT").expect(
        "ALCHEMISER_TEST_DYNAMODB_ENDPOINT is not set: run this test through scripts/test, which starts moto",
    )
}

/// A store on a fresh table (the fixture is kept so the table outlives the test's checks).
async fn store(config: IdempotencyConfig) -> (DynamoDbStore, Emulator) {
    let sdk = sdk_at(Some(&endpoint())).await;
    let mut emulator = Emulator::with_sdk(&sdk);
    let table = unique("idempotency-test-");
    emulator.table(&table).await;
    let store = DynamoDbStore::new(emulator.dynamodb.clone(), table, config);
    (store, emulator)
}

const HASH: &str = "hash-of-the-payload";

fn claim<'a>(key: &'a str, now: DateTime<Utc>, lapse_after: Duration) -> ClaimRequest<'a> {
    ClaimRequest {
        key,
        payload_hash: HASH,
        now,
        in_progress_until: now + lapse_after,
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn claims_are_exclusive_and_the_failed_claim_returns_the_completed_record() {
    let (store, emulator) = store(IdempotencyConfig::default()).await;
    let now = Utc::now();
    let request = claim("execution#e1", now, MINUTE);
    assert_eq!(store.claim(&request).await.unwrap(), Claim::Acquired);
    assert!(matches!(
        store.claim(&request).await.unwrap(),
        Claim::InProgress { expires_at } if expires_at.timestamp_millis() == (now + MINUTE).timestamp_millis()
    ));
    let result = StoredResult {
        events: vec![json!({"a": 1})],
        published: true,
        follow_up: None,
    };
    store
        .complete("execution#e1", HASH, &result, now)
        .await
        .unwrap();
    assert_eq!(
        store.claim(&request).await.unwrap(),
        Claim::Completed(result)
    );
    // Keys are per handler: the monitor handling the same event id is a different claim.
    assert_eq!(
        store
            .claim(&claim("monitor#e1", now, MINUTE))
            .await
            .unwrap(),
        Claim::Acquired
    );
    emulator.cleanup().await;
}

#[tokio::test]
async fn a_lapsed_claim_can_be_taken_over_and_a_released_one_at_once() {
    let (store, emulator) = store(IdempotencyConfig::default()).await;
    let now = Utc::now();
    let key = "execution#e2";
    assert_eq!(
        store.claim(&claim(key, now, MINUTE)).await.unwrap(),
        Claim::Acquired
    );
    let later = now + MINUTE + Duration::from_secs(1);
    assert_eq!(
        store.claim(&claim(key, later, MINUTE)).await.unwrap(),
        Claim::Acquired,
        "a crashed invocation's claim lapses at its deadline plus the margin"
    );
    store.release(key).await.unwrap();
    assert_eq!(
        store.claim(&claim(key, later, MINUTE)).await.unwrap(),
        Claim::Acquired
    );
    emulator.cleanup().await;
}

#[tokio::test]
async fn an_expired_record_is_claimable_before_the_ttl_deletes_it() {
    let ttl = Duration::from_secs(3600);
    let (store, emulator) = store(IdempotencyConfig {
        record_ttl: ttl,
        ..IdempotencyConfig::default()
    })
    .await;
    let now = Utc::now();
    let key = "portfolio#e3";
    store.claim(&claim(key, now, MINUTE)).await.unwrap();
    let result = StoredResult {
        events: vec![],
        published: true,
        follow_up: None,
    };
    store.complete(key, HASH, &result, now).await.unwrap();
    assert_eq!(
        store.claim(&claim(key, now, MINUTE)).await.unwrap(),
        Claim::Completed(result)
    );
    let after_expiry = now + ttl + Duration::from_secs(1);
    assert_eq!(
        store
            .claim(&claim(key, after_expiry, MINUTE))
            .await
            .unwrap(),
        Claim::Acquired
    );
    emulator.cleanup().await;
}

#[tokio::test]
async fn a_key_reused_for_another_payload_is_refused() {
    let (store, emulator) = store(IdempotencyConfig::default()).await;
    let now = Utc::now();
    let key = "execution#e4";
    let first = payload_hash(&json!({"plan": "a"}));
    let second = payload_hash(&json!({"plan": "b"}));
    assert_ne!(first, second);
    let request = |hash: &'static str| ClaimRequest {
        key,
        payload_hash: hash,
        now,
        in_progress_until: now + MINUTE,
    };
    let first: &'static str = Box::leak(first.into_boxed_str());
    let second: &'static str = Box::leak(second.into_boxed_str());
    store.claim(&request(first)).await.unwrap();
    let result = StoredResult {
        events: vec![],
        published: true,
        follow_up: None,
    };
    store.complete(key, first, &result, now).await.unwrap();
    assert_eq!(
        store.claim(&request(second)).await.unwrap(),
        Claim::PayloadMismatch {
            stored_hash: first.to_owned()
        }
    );
    assert_eq!(
        store.claim(&request(first)).await.unwrap(),
        Claim::Completed(result)
    );
    emulator.cleanup().await;
}

#[tokio::test]
async fn an_unreachable_or_missing_table_is_an_error_not_a_claim() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let sdk = sdk_at(Some(&dead)).await;
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        "absent",
        IdempotencyConfig::default(),
    );
    let error = store
        .claim(&claim("execution#e5", Utc::now(), MINUTE))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("idempotency store unavailable"),
        "{error}"
    );
    let sdk = sdk_at(Some(&endpoint())).await;
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        "no-such-table",
        IdempotencyConfig::default(),
    );
    assert!(store
        .claim(&claim("execution#e5", Utc::now(), MINUTE))
        .await
        .is_err());
}
