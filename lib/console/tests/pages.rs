//! The console's pages through its router, over a local ledger file holding every kind of
//! workflow: each page answers with the strict headers, shows what a person looks for, has the
//! same data as JSON, shows markup from events as text, and answers bad input, unknown
//! workflows, a missing ledger, a foreign host and writes with clear errors.

mod support;

use std::sync::Arc;

use alchemiser_clock::ManualClock;
use alchemiser_console::{
    Console, Hosts, LedgerSource, LocalFile, NoSwitch, SourceView, Unavailable,
    CONTENT_SECURITY_POLICY,
};
use alchemiser_ledger::{LedgerStore, SqliteLedger};
use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use support::seed::{self, Kind, HOSTILE_ID, HOSTILE_MESSAGE_ID, XSS};
use tower::ServiceExt;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-06T15:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

struct Fixture {
    router: Router,
    seeded: Vec<(String, Kind)>,
    _dir: tempfile::TempDir,
}

/// A console over a ledger file with 120 seeded workflows a minute apart up to an hour ago,
/// and the hostile one before them.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let ledger = SqliteLedger::open(&path).unwrap();
    let seeded = seed::seed(
        &ledger,
        120,
        now() - TimeDelta::hours(1),
        TimeDelta::minutes(1),
    )
    .await;
    seed::hostile(&ledger, now() - TimeDelta::hours(3)).await;
    Fixture {
        router: console(Arc::new(LocalFile::new(&path))),
        seeded,
        _dir: dir,
    }
}

fn console(source: Arc<dyn LedgerSource>) -> Router {
    Console::new(
        source,
        Arc::new(NoSwitch),
        Arc::new(ManualClock::starting_at(now())),
        Hosts::Loopback,
    )
    .router()
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn request(router: &Router, method: Method, uri: &str, host: &str) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, host)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(router: &Router, uri: &str) -> Answer {
    request(router, Method::GET, uri, "127.0.0.1:8080").await
}

fn workflow_uri(id: &str) -> String {
    alchemiser_console::html::workflow_href(id)
}

/// No markup from an event made it into the page as markup.
fn assert_no_injected_markup(uri: &str, body: &str) {
    for raw in ["<img src=x", "<script"] {
        assert!(!body.contains(raw), "{uri} holds `{raw}` as markup");
    }
}

#[tokio::test]
async fn every_page_answers_with_the_strict_headers_and_no_injected_markup() {
    let fixture = fixture().await;
    let pages = [
        "/".to_owned(),
        "/?since=30d".to_owned(),
        "/workflows".to_owned(),
        "/workflows?state=failed".to_owned(),
        workflow_uri(HOSTILE_ID),
        workflow_uri(&fixture.seeded[5].0),
        "/orders".to_owned(),
        "/orders?symbol=spy".to_owned(),
        "/dead-letters".to_owned(),
    ];
    for uri in &pages {
        let answer = get(&fixture.router, uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.body);
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            header("content-security-policy"),
            CONTENT_SECURITY_POLICY,
            "{uri}"
        );
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'none'"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert_eq!(header("x-content-type-options"), "nosniff", "{uri}");
        assert_eq!(header("x-frame-options"), "DENY", "{uri}");
        assert_eq!(header("content-type"), "text/html; charset=utf-8", "{uri}");
        assert!(!answer.body.contains(" style="), "{uri}: an inline style");
        assert!(
            !answer.body.contains("<style"),
            "{uri}: an inline stylesheet"
        );
        assert_no_injected_markup(uri, &answer.body);
    }
}

#[tokio::test]
async fn markup_in_an_event_is_shown_as_text_on_the_workflow_page() {
    let fixture = fixture().await;
    let answer = get(&fixture.router, &workflow_uri(HOSTILE_ID)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let escaped = "&lt;img src=x onerror=alert(1)&gt;";
    assert!(
        answer.body.contains(&format!("broker said {escaped}")),
        "the failure reason is not shown as text"
    );
    assert!(
        answer.body.contains(&format!("strategy {escaped}")),
        "the strategy"
    );
    assert!(
        answer
            .body
            .contains(&format!("permanent failure: {escaped}")),
        "the letter"
    );
    assert!(
        answer.body.contains(&format!("never redrivable {escaped}")),
        "the deletion"
    );
    assert!(
        answer
            .body
            .contains("workflow-&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"),
        "the correlation id"
    );
    assert_no_injected_markup("the hostile workflow", &answer.body);
    // The command to paste takes the message id as one quoted shell word.
    assert!(
        answer
            .body
            .contains("alchemiser dlq redrive &#39;m-1; rm -rf ~&#39; --stage STAGE")
            || answer
                .body
                .contains("alchemiser dlq redrive 'm-1; rm -rf ~' --stage STAGE"),
        "the redrive command"
    );
    assert!(!XSS.is_empty() && !HOSTILE_MESSAGE_ID.is_empty());
}

#[tokio::test]
async fn a_workflow_page_shows_its_plan_orders_fills_and_slippage_and_the_same_as_json() {
    let fixture = fixture().await;
    let (id, _) = fixture
        .seeded
        .iter()
        .find(|(_, kind)| *kind == Kind::Completed)
        .unwrap();
    let page = get(&fixture.router, &workflow_uri(id)).await;
    assert_eq!(page.status, StatusCode::OK);
    for shown in [
        "Timeline",
        "Causation",
        "Plan items",
        "Orders and fills",
        "SignalGenerated",
        "TLT",
        "SPY",
        "<svg",
        "completed",
    ] {
        assert!(page.body.contains(shown), "{shown} is not on the page");
    }
    let json = get(
        &fixture.router,
        &format!("{}&format=json", workflow_uri(id)),
    )
    .await;
    assert_eq!(json.status, StatusCode::OK);
    assert_eq!(
        json.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/json"
    );
    let model = json.json();
    assert_eq!(model["summary"]["correlation_id"], id.as_str());
    assert_eq!(model["summary"]["state"], "completed");
    assert_eq!(model["plan"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(model["signal"]["target_weights"][0]["symbol"], "SPY");
    let orders = model["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    for order in orders {
        let bps = order["slippage_bps"]
            .as_str()
            .expect("slippage as a decimal string");
        assert!(bps.parse::<alchemiser_events::Decimal>().is_ok(), "{bps}");
        assert!(page.body.contains(bps), "slippage {bps} is not on the page");
        assert!(page.body.contains(order["order_id"].as_str().unwrap()));
    }
    assert!(model["entries"].as_array().unwrap().len() >= 5);
    assert_eq!(model["timeline"][0]["event_type"], "WorkflowStarted");
}

#[tokio::test]
async fn the_dead_letter_of_a_failed_workflow_comes_with_the_command_that_resends_it() {
    let fixture = fixture().await;
    let (id, _) = fixture
        .seeded
        .iter()
        .find(|(_, kind)| *kind == Kind::DeadLettered)
        .unwrap();
    let page = get(&fixture.router, &workflow_uri(id)).await;
    assert!(
        page.body.contains("alchemiser dlq redrive msg-"),
        "{}",
        page.body
    );
    let list = get(&fixture.router, "/dead-letters?format=json")
        .await
        .json();
    let letters = list["letters"].as_array().unwrap();
    assert!(letters.iter().any(|l| l["correlation_id"] == id.as_str()));
    let deleted = letters
        .iter()
        .find(|l| l["letter"]["message_id"] == "m-deleted")
        .unwrap();
    assert_eq!(deleted["status"], "deleted");
    assert!(list["waiting"].as_u64().unwrap() >= 2);
}

#[tokio::test]
async fn the_lists_page_through_the_ledger_and_a_search_finds_any_id() {
    let fixture = fixture().await;
    let first = get(&fixture.router, "/workflows?since=1d&limit=10&format=json")
        .await
        .json();
    let rows = first["workflows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    let older = first["older_page"].as_str().unwrap();
    let html = get(&fixture.router, "/workflows?since=1d&limit=10")
        .await
        .body;
    assert!(html.contains("older →"));
    let second_uri = alchemiser_console::html::href(
        "/workflows",
        &[
            ("since", "1d"),
            ("limit", "10"),
            ("after", older),
            ("format", "json"),
        ],
    );
    let second = get(&fixture.router, &second_uri).await.json();
    let second_rows = second["workflows"].as_array().unwrap();
    assert_eq!(second_rows.len(), 10);
    assert!(second_rows[0]["started_at"].as_str() < rows[9]["started_at"].as_str());
    assert!(second["newer_page"].is_string());

    let failed = get(&fixture.router, "/workflows?state=failed&format=json")
        .await
        .json();
    assert!(failed["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["state"] == "failed"));

    // A broker order id finds its workflow: one result opens its page.
    let found = get(&fixture.router, "/workflows?q=ord-5-spy").await;
    assert_eq!(found.status, StatusCode::SEE_OTHER);
    let location = found
        .headers
        .get(header::LOCATION)
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(location, workflow_uri("workflow-seed-00005"));
    let none = get(&fixture.router, "/workflows?q=no-such-id").await;
    assert_eq!(none.status, StatusCode::OK);
    assert!(none.body.contains("No workflow has the id"));
}

#[tokio::test]
async fn orders_are_listed_across_workflows_with_totals() {
    let fixture = fixture().await;
    let all = get(&fixture.router, "/orders?since=30d&format=json")
        .await
        .json();
    let traded = fixture
        .seeded
        .iter()
        .filter(|(_, k)| {
            matches!(
                k,
                Kind::Completed | Kind::Shadowed | Kind::FailedInExecution
            )
        })
        .count();
    assert_eq!(all["totals"]["orders"], traded * 2);
    assert!(all["totals"]["not_filled"].as_u64().unwrap() > 0);
    let spy = get(&fixture.router, "/orders?since=30d&symbol=SPY&format=json")
        .await
        .json();
    assert_eq!(spy["totals"]["orders"], traded);
    assert!(spy["orders"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["symbol"] == "SPY"));
    let page = get(&fixture.router, "/orders?since=30d&symbol=SPY")
        .await
        .body;
    assert!(page.contains("bought") && page.contains("slippage"));
}

#[tokio::test]
async fn the_overview_counts_the_window_and_names_the_last_run() {
    let fixture = fixture().await;
    let model = get(&fixture.router, "/?since=30d&format=json").await.json();
    assert_eq!(model["counts"]["total"], 121);
    let failed = fixture
        .seeded
        .iter()
        .filter(|(_, k)| matches!(k, Kind::FailedInExecution | Kind::DeadLettered))
        .count()
        + 1;
    assert_eq!(model["counts"]["failed"], failed);
    assert!(
        model["duration_p95_ms"].as_i64().unwrap() >= model["duration_p50_ms"].as_i64().unwrap()
    );
    assert_eq!(model["trading_halt"]["state"], "not_applicable");
    assert_eq!(
        model["last_run"]["correlation_id"],
        fixture.seeded.last().unwrap().0.as_str()
    );
    assert!(model["open_dead_letters"].as_u64().unwrap() >= 2);
    let steps = model["failures_by_step"].as_array().unwrap();
    assert_eq!(steps[0]["step"], "execution");
}

#[tokio::test]
async fn bad_input_is_a_400_page_naming_the_parameter() {
    let fixture = fixture().await;
    for (uri, parameter) in [
        ("/workflows?limit=0", "limit"),
        ("/workflows?state=nope", "state"),
        ("/workflows?since=24", "since"),
        ("/workflows?after=garbage", "after"),
        ("/workflows?q=%1B%5B31m", "q"),
        ("/orders?symbol=%3Cb%3E", "symbol"),
        ("/orders?from=yesterday", "from"),
        ("/dead-letters?since=1000d", "since"),
        ("/?evil=1", "evil"),
        ("/workflow", "id"),
    ] {
        let answer = get(&fixture.router, uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(
            answer
                .body
                .contains(&format!("The `{parameter}` parameter"))
                || answer
                    .body
                    .contains(&format!("the `{parameter}` parameter")),
            "{uri}: {}",
            answer.body
        );
        assert_no_injected_markup(uri, &answer.body);
        let json = get(
            &fixture.router,
            &format!(
                "{uri}{}format=json",
                if uri.contains('?') { "&" } else { "?" }
            ),
        )
        .await;
        assert_eq!(json.status, StatusCode::BAD_REQUEST, "{uri} as JSON");
        assert_eq!(json.json()["error"]["kind"], "bad_request", "{uri}");
    }
    let unknown = get(&fixture.router, &workflow_uri("workflow-nobody-ran")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body.contains("is not in the local ledger"));
    let nowhere = get(&fixture.router, "/admin").await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_console_changes_nothing_and_answers_only_its_own_host() {
    let fixture = fixture().await;
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let answer = request(
            &fixture.router,
            method.clone(),
            "/workflows",
            "127.0.0.1:8080",
        )
        .await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    for host in ["localhost:8080", "[::1]:8080", "127.0.0.1"] {
        let answer = request(&fixture.router, Method::GET, "/", host).await;
        assert_eq!(answer.status, StatusCode::OK, "{host}");
    }
    // A page elsewhere whose DNS name points at 127.0.0.1 reads nothing.
    let rebound = request(&fixture.router, Method::GET, "/", "attacker.example:8080").await;
    assert_eq!(rebound.status, StatusCode::MISDIRECTED_REQUEST);
    assert!(!rebound.body.contains("workflow-seed"));
}

#[tokio::test]
async fn a_missing_ledger_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let router = console(Arc::new(LocalFile::new(dir.path().join("none.sqlite3"))));
    for uri in [
        "/",
        "/workflows",
        "/orders",
        "/dead-letters",
        "/workflow?id=x",
    ] {
        let answer = get(&router, uri).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert!(answer.body.contains("No ledger yet"), "{uri}");
        assert!(
            answer.body.contains("run `alchemiser run`"),
            "{uri}: {}",
            answer.body
        );
    }
    assert!(
        !dir.path().join("none.sqlite3").exists(),
        "the console created the ledger"
    );
}

/// A stage's source whose table is not there, and one without credentials.
struct Broken(Unavailable);

#[async_trait]
impl LedgerSource for Broken {
    async fn store(&self) -> Result<Arc<dyn LedgerStore>, Unavailable> {
        Err(self.0.clone())
    }

    fn describe(&self) -> SourceView {
        SourceView::Stage {
            stage: "dev".into(),
            table: "alchemiser-workflow-ledger-dev".into(),
        }
    }
}

#[tokio::test]
async fn a_stage_not_deployed_or_without_credentials_says_what_to_run() {
    let cases = [
        (
            Unavailable::StageNotDeployed {
                stage: "dev".into(),
                table: "alchemiser-workflow-ledger-dev".into(),
                region: "us-east-1".into(),
            },
            "deploy it with `scripts/deploy dev`",
            "stage_not_deployed",
        ),
        (
            Unavailable::AwsSetup {
                line: "no AWS credentials: run `aws sso login --profile trading`".into(),
            },
            "aws sso login",
            "aws_setup",
        ),
    ];
    for (unavailable, sentence, kind) in cases {
        let router = console(Arc::new(Broken(unavailable)));
        let answer = get(&router, "/workflows").await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(answer.body.contains(sentence), "{}", answer.body);
        let json = get(&router, "/workflows?format=json").await.json();
        assert_eq!(json["error"]["kind"], kind);
    }
}
