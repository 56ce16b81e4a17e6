//! The console's pages over a stage's ledger as DynamoDB keeps it (moto): every entry kind a
//! workflow can hold reads back through the table and shows on its page, markup as text; the
//! lists page through the `by_start` index.
//!
//! Needs moto (`test = false`): scripts/test runs it with ALCHEMISER_TEST_DYNAMODB_ENDPOINT.

mod support;

use std::sync::Arc;
use std::time::Duration;

use alchemiser_clock::ManualClock;
use alchemiser_console::{Console, Hosts, LedgerSource, NoSwitch, SourceView, Unavailable};
use alchemiser_ledger::{DynamoDbLedger, LedgerStore};
use alchemiser_testkit::{sdk_at, unique, Emulator};
use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::{TimeDelta, Utc};
use support::seed::{self, HOSTILE_ID};
use tower::ServiceExt;

struct Table(Arc<DynamoDbLedger>, String);

#[async_trait]
impl LedgerSource for Table {
    async fn store(&self) -> Result<Arc<dyn LedgerStore>, Unavailable> {
        Ok(self.0.clone())
    }

    fn describe(&self) -> SourceView {
        SourceView::Stage {
            stage: "moto".into(),
            table: self.1.clone(),
        }
    }
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, String) {
    let request = Request::builder()
        .uri(uri)
        .header(header::HOST, "127.0.0.1:8470")
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn every_entry_kind_of_a_stage_ledger_shows_on_its_pages() {
    let endpoint = std::env::var("ALCHEMISER_TEST_DYNAMODB_ENDPOINT").expect(
        "ALCHEMISER_TEST_DYNAMODB_ENDPOINT is not set: run this test through scripts/test, which starts moto",
    );
    let sdk = sdk_at(Some(&endpoint)).await;
    let mut emulator = Emulator::with_sdk(&sdk);
    let table = unique("console-ledger-");
    let ledger = DynamoDbLedger::new(emulator.dynamodb.clone(), &table, Duration::from_secs(3600));
    ledger.create_table().await.expect("CreateTable");
    emulator.adopt_table(&table);
    let now = Utc::now();
    let seeded = seed::seed(
        &ledger,
        30,
        now - TimeDelta::hours(1),
        TimeDelta::minutes(1),
    )
    .await;
    seed::hostile(&ledger, now - TimeDelta::hours(2)).await;
    let router = Console::new(
        Arc::new(Table(Arc::new(ledger), table.clone())),
        Arc::new(NoSwitch),
        Arc::new(ManualClock::starting_at(now)),
        Hosts::Loopback,
    )
    .router();

    let (status, page) = get(
        &router,
        &alchemiser_console::html::workflow_href(HOSTILE_ID),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let escaped = "&lt;img src=x onerror=alert(1)&gt;";
    for shown in [
        format!("broker said {escaped}").as_str(),
        "alchemiser dlq redrive",
        "--stage moto",
        format!("never redrivable {escaped}").as_str(),
        "deleted",
        "SignalGenerated",
    ] {
        assert!(
            page.contains(shown),
            "`{shown}` is not on the hostile workflow's page"
        );
    }
    assert!(!page.contains("<img src=x") && !page.contains("<script"));

    let (status, json) = get(&router, "/workflows?since=1d&limit=10&format=json").await;
    assert_eq!(status, StatusCode::OK);
    let model: serde_json::Value = serde_json::from_str(&json).unwrap();
    let listed: Vec<&str> = model["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["correlation_id"].as_str().unwrap())
        .collect();
    let newest: Vec<&str> = seeded
        .iter()
        .rev()
        .take(10)
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(listed, newest, "the first page: the ten newest");
    assert!(model["older_page"].is_string());

    let (status, letters) = get(&router, "/dead-letters?format=json").await;
    assert_eq!(status, StatusCode::OK);
    let letters: serde_json::Value = serde_json::from_str(&letters).unwrap();
    assert!(letters["letters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["redrive_command"] == "alchemiser dlq redrive msg-10 --stage moto"));
    emulator.cleanup().await;
}
