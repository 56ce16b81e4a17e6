//! The Alpaca adapter against a local stub of its REST API on 127.0.0.1.

use std::time::Duration;

use alchemiser_events::Symbol;
use alchemiser_trading::{
    AlpacaBroker, AlpacaConfig, Broker, BrokerError, OrderRequest, OrderSide, OrderStatus,
};
use rust_decimal_macros::dec;
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn broker(server: &MockServer) -> AlpacaBroker {
    let mut config = AlpacaConfig::new("key-id", "secret");
    config.trading_url = server.uri();
    config.data_url = server.uri();
    config.timeout = Duration::from_millis(500);
    AlpacaBroker::new(config).unwrap()
}

/// An order as Alpaca's API returns it (`docs/notes/alpaca-broker-facts.md` §2).
fn order_body(
    id: &str,
    status: &str,
    filled_qty: &str,
    filled_avg_price: Option<&str>,
) -> serde_json::Value {
    json!({
        "id": id, "client_order_id": "plan-1-SPY-buy", "symbol": "SPY", "side": "buy",
        "qty": "1.5", "type": "market", "time_in_force": "day", "status": status,
        "filled_qty": filled_qty, "filled_avg_price": filled_avg_price,
        "submitted_at": "2026-12-01T14:35:00.123456Z", "replaced_by": null
    })
}

fn order(symbol: &str) -> OrderRequest {
    OrderRequest {
        symbol: Symbol::parse(symbol).unwrap(),
        side: OrderSide::Buy,
        qty: dec!(1.5),
        client_order_id: "plan-1-SPY-buy".into(),
    }
}

#[tokio::test]
async fn reads_account_positions_and_prices_with_the_keys() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/account"))
        .and(header("APCA-API-KEY-ID", "key-id"))
        .and(header("APCA-API-SECRET-KEY", "secret"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"cash": "1234.56", "status": "ACTIVE"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/positions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"symbol": "SPY", "qty": "30", "current_price": "100.25", "market_value": "3007.5"}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/stocks/TLT/trades/latest"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"symbol": "TLT", "trade": {"p": 91.37, "s": 100}})),
        )
        .mount(&server)
        .await;

    let broker = broker(&server).await;
    assert_eq!(broker.account().await.unwrap().cash, dec!(1234.56));
    let positions = broker.holdings().await.unwrap().positions;
    assert_eq!(positions[0].symbol.as_str(), "SPY");
    assert_eq!(positions[0].price, dec!(100.25));
    assert_eq!(
        broker
            .latest_price(&Symbol::parse("TLT").unwrap())
            .await
            .unwrap(),
        dec!(91.37)
    );
}

#[tokio::test]
async fn places_a_fractional_market_order_with_its_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/orders"))
        .and(body_partial_json(json!({
            "symbol": "SPY", "qty": "1.5", "side": "buy", "type": "market",
            "time_in_force": "day", "client_order_id": "plan-1-SPY-buy"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(order_body(
            "order-1",
            "filled",
            "1.5",
            Some("100.10"),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = broker(&server)
        .await
        .place_market_order(&order("SPY"))
        .await
        .unwrap();
    assert_eq!(outcome.order_id, "order-1");
    assert_eq!(outcome.status, OrderStatus::Filled);
    assert_eq!(outcome.fill_price, Some(dec!(100.10)));
}

#[tokio::test]
async fn a_duplicate_client_order_id_returns_the_first_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/orders"))
        .respond_with(
            ResponseTemplate::new(422).set_body_json(
                json!({"code": 40010001, "message": "client_order_id must be unique"}),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/orders:by_client_order_id"))
        .and(query_param("client_order_id", "plan-1-SPY-buy"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(order_body("order-1", "accepted", "0", None)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let outcome = broker(&server)
        .await
        .place_market_order(&order("SPY"))
        .await
        .unwrap();
    assert_eq!(outcome.order_id, "order-1");
    assert_eq!(outcome.status, OrderStatus::Pending);
}

#[tokio::test]
async fn client_errors_are_permanent_with_alpacas_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/orders"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"message": "insufficient buying power"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/account"))
        .respond_with(ResponseTemplate::new(401).set_body_string("unauthorized."))
        .mount(&server)
        .await;
    let broker = broker(&server).await;
    match broker.place_market_order(&order("SPY")).await {
        Err(BrokerError::Permanent(message)) => {
            assert!(
                message.contains("403") && message.contains("insufficient buying power"),
                "{message}"
            )
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
    let error = broker.account().await.unwrap_err();
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("401"), "{error}");
}

#[tokio::test]
async fn server_errors_throttling_and_timeouts_are_transient() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/account"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/positions"))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(json!({"message": "rate limit exceeded"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/stocks/SPY/trades/latest"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(3))
                .set_body_json(json!({"trade": {"p": 1}})),
        )
        .mount(&server)
        .await;
    let broker = broker(&server).await;
    let error = broker.account().await.unwrap_err();
    assert!(
        matches!(error, BrokerError::Transient(_)) && error.to_string().contains("503"),
        "{error}"
    );
    let error = broker.holdings().await.unwrap_err();
    assert!(
        matches!(error, BrokerError::RateLimited(_)) && error.to_string().contains("rate limit"),
        "{error}"
    );
    let error = broker
        .latest_price(&Symbol::parse("SPY").unwrap())
        .await
        .unwrap_err();
    // A request that went out and timed out may have been taken: the answer is lost.
    assert!(matches!(error, BrokerError::AnswerLost(_)), "{error}");
}

#[tokio::test]
async fn a_500_to_an_order_is_a_lost_answer_and_the_order_is_looked_up() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/orders"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/orders:by_client_order_id"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(order_body("order-9", "new", "0", None)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let outcome = broker(&server)
        .await
        .place_market_order(&order("SPY"))
        .await
        .unwrap();
    assert_eq!(outcome.order_id, "order-9", "the order the broker took");
}

#[tokio::test]
async fn cancel_asks_the_broker_and_an_order_no_longer_cancelable_is_no_error() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/v2/orders/order-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v2/orders/order-2"))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(json!({"code": 42210000, "message": "order is not cancelable"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v2/orders/order-3"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "order not found"})),
        )
        .mount(&server)
        .await;
    let broker = broker(&server).await;
    broker.cancel_order("order-1").await.unwrap();
    broker.cancel_order("order-2").await.unwrap();
    let error = broker.cancel_order("order-3").await.unwrap_err();
    assert!(matches!(error, BrokerError::Permanent(_)), "{error}");
}

#[tokio::test]
async fn the_clock_and_the_calendar_in_new_york_time_read_as_utc() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/clock"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "timestamp": "2026-11-27T12:59:30.123456-05:00", "is_open": true,
            "next_open": "2026-11-30T09:30:00-05:00", "next_close": "2026-11-27T13:00:00-05:00"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/calendar"))
        .and(query_param("start", "2026-11-25"))
        .and(query_param("end", "2026-11-30"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"date": "2026-11-25", "open": "09:30", "close": "16:00", "session_open": "0400", "session_close": "2000", "settlement_date": "2026-11-27"},
            {"date": "2026-11-27", "open": "09:30", "close": "13:00", "session_open": "0400", "session_close": "1700", "settlement_date": "2026-12-01"},
            {"date": "2026-11-30", "open": "09:30", "close": "16:00", "session_open": "0400", "session_close": "2000", "settlement_date": "2026-12-02"}
        ])))
        .mount(&server)
        .await;
    let broker = broker(&server).await;
    let clock = broker.market_clock().await.unwrap();
    assert!(clock.is_open);
    assert_eq!(clock.next_close.to_rfc3339(), "2026-11-27T18:00:00+00:00");
    let day = |text: &str| text.parse::<chrono::NaiveDate>().unwrap();
    let days = broker
        .trading_days(day("2026-11-25"), day("2026-11-30"))
        .await
        .unwrap();
    assert_eq!(days.len(), 3, "Thanksgiving is not a trading day");
    assert_eq!(days[1].close.to_rfc3339(), "2026-11-27T18:00:00+00:00");
    assert!(days[1].closes_early() && !days[0].closes_early());
    assert_eq!(days[2].open.to_rfc3339(), "2026-11-30T14:30:00+00:00");
}

#[tokio::test]
async fn open_orders_and_the_days_orders_are_listed_page_after_page() {
    let server = MockServer::start().await;
    let page = |from: usize, count: usize| -> Vec<serde_json::Value> {
        (from..from + count)
            .map(|n| {
                let mut body = order_body(&format!("o-{n}"), "filled", "1.5", Some("100"));
                body["client_order_id"] = json!(format!("c-{n}"));
                body["submitted_at"] = json!(format!("2026-12-01T15:{:02}:{:02}Z", n / 60, n % 60));
                body
            })
            .collect()
    };
    // A first full page of 500, then the rest after the last one seen.
    Mock::given(method("GET"))
        .and(path("/v2/orders"))
        .and(query_param("status", "all"))
        .and(query_param("after", "2026-12-01T14:29:59+00:00"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(0, 500)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/orders"))
        .and(query_param("status", "all"))
        .and(query_param("after", "2026-12-01T15:08:18+00:00"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(499, 3)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/orders"))
        .and(query_param("status", "open"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([order_body("o-x", "new", "0", None)])),
        )
        .mount(&server)
        .await;
    let broker = broker(&server).await;
    let since = chrono::DateTime::parse_from_rfc3339("2026-12-01T14:30:00Z")
        .unwrap()
        .to_utc();
    let orders = broker.orders_since(since).await.unwrap();
    assert_eq!(orders.len(), 502, "each order once, across the pages");
    let open = broker.open_orders().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].status, OrderStatus::Pending);
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let mut config = AlpacaConfig::new("k", "s");
    config.trading_url = format!("http://{address}");
    let error = AlpacaBroker::new(config)
        .unwrap()
        .account()
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
}

#[test]
fn keys_come_from_the_environment_and_are_never_printed() {
    let config = AlpacaConfig::new("AKID", "very-secret");
    let shown = format!("{config:?}");
    assert!(
        shown.contains("AKID") && !shown.contains("very-secret"),
        "{shown}"
    );
    assert_eq!(config.trading_url, "https://paper-api.alpaca.markets");
}

#[tokio::test]
async fn every_alpaca_status_maps_and_only_final_ones_end_the_order() {
    // Alpaca's eighteen statuses (docs/notes/alpaca-broker-facts.md §1): final are filled,
    // canceled, expired, rejected and replaced; every other one may still fill.
    let cases = [
        ("filled", OrderStatus::Filled),
        ("partially_filled", OrderStatus::PartiallyFilled),
        ("new", OrderStatus::Pending),
        ("accepted", OrderStatus::Pending),
        ("pending_new", OrderStatus::Pending),
        ("accepted_for_bidding", OrderStatus::Pending),
        ("calculated", OrderStatus::Pending),
        ("held", OrderStatus::Pending),
        ("stopped", OrderStatus::Pending),
        ("pending_cancel", OrderStatus::Pending),
        ("pending_replace", OrderStatus::Pending),
        ("pending_review", OrderStatus::Pending),
        ("done_for_day", OrderStatus::Pending),
        ("suspended", OrderStatus::Pending),
        ("replaced", OrderStatus::Replaced),
        ("canceled", OrderStatus::Canceled),
        ("expired", OrderStatus::Expired),
        ("rejected", OrderStatus::Rejected),
    ];
    for (alpaca, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v2/orders:by_client_order_id"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(order_body("o-1", alpaca, "0", None)),
            )
            .mount(&server)
            .await;
        let found = broker(&server).await.order("any").await.unwrap().unwrap();
        assert_eq!(found.status, expected, "{alpaca}");
        assert_eq!(found.broker_status, alpaca);
        let is_final = matches!(
            expected,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Expired
                | OrderStatus::Rejected
                | OrderStatus::Replaced
        );
        assert_eq!(found.status.is_final(), is_final, "{alpaca}");
    }
    // Something filled of an order still working: partly filled, whatever Alpaca calls it.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/orders:by_client_order_id"))
        .respond_with(ResponseTemplate::new(200).set_body_json(order_body(
            "o-1",
            "done_for_day",
            "0.5",
            Some("100"),
        )))
        .mount(&server)
        .await;
    let found = broker(&server).await.order("any").await.unwrap().unwrap();
    assert_eq!(found.status, OrderStatus::PartiallyFilled);
    assert_eq!(found.filled_qty, dec!(0.5));
    // A status this adapter does not know is never taken for a success.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/orders:by_client_order_id"))
        .respond_with(ResponseTemplate::new(200).set_body_json(order_body(
            "o-1",
            "teleported",
            "0",
            None,
        )))
        .mount(&server)
        .await;
    let error = broker(&server).await.order("any").await.unwrap_err();
    assert!(
        error.is_retryable() && error.to_string().contains("teleported"),
        "{error}"
    );
}

#[tokio::test]
async fn a_duplicate_whose_first_order_was_canceled_is_reported_canceled_not_placed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/orders"))
        .respond_with(
            ResponseTemplate::new(422).set_body_json(
                json!({"code": 40010001, "message": "client_order_id must be unique"}),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/orders:by_client_order_id"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(order_body("order-1", "canceled", "0", None)),
        )
        .mount(&server)
        .await;
    let outcome = broker(&server)
        .await
        .place_market_order(&order("SPY"))
        .await
        .unwrap();
    assert_eq!(outcome.status, OrderStatus::Canceled);
    assert!(outcome.status.is_final());
}

#[tokio::test]
async fn a_post_that_times_out_is_looked_up_before_deciding() {
    // The broker took the order but the answer never arrived in time: it is found, not lost.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/orders"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(3))
                .set_body_json(order_body("order-1", "accepted", "0", None)),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/orders:by_client_order_id"))
        .and(query_param("client_order_id", "plan-1-SPY-buy"))
        .respond_with(ResponseTemplate::new(200).set_body_json(order_body(
            "order-1",
            "filled",
            "1.5",
            Some("100"),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = AlpacaConfig::new("key-id", "secret");
    config.trading_url = server.uri();
    config.timeout = Duration::from_millis(300);
    let broker = AlpacaBroker::new(config).unwrap();
    let outcome = broker.place_market_order(&order("SPY")).await.unwrap();
    assert_eq!(outcome.status, OrderStatus::Filled);

    // Not there after a timeout: not placed, and a retry (same client_order_id) is safe.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/orders"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/orders:by_client_order_id"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "order not found"})),
        )
        .mount(&server)
        .await;
    let mut config = AlpacaConfig::new("key-id", "secret");
    config.trading_url = server.uri();
    config.timeout = Duration::from_millis(300);
    let error = AlpacaBroker::new(config)
        .unwrap()
        .place_market_order(&order("SPY"))
        .await
        .unwrap_err();
    assert!(
        error.is_retryable() && error.to_string().contains("not placed"),
        "{error}"
    );
}

#[tokio::test]
async fn positions_the_contract_cannot_hold_are_left_alone_not_a_blocker() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/positions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"symbol": "SPY", "qty": "30", "current_price": "100", "asset_class": "us_equity"},
            {"symbol": "AAPL240119C00150000", "qty": "1", "current_price": "4.2",
             "market_value": "420", "asset_class": "us_option"},
            {"symbol": "BTCUSD", "qty": "0.1", "current_price": "60000", "asset_class": "crypto"}
        ])))
        .mount(&server)
        .await;
    let holdings = broker(&server).await.holdings().await.unwrap();
    assert_eq!(holdings.positions.len(), 1);
    assert_eq!(holdings.positions[0].symbol.as_str(), "SPY");
    let left: Vec<&str> = holdings
        .unsupported
        .iter()
        .map(|p| p.symbol.as_str())
        .collect();
    assert_eq!(left, ["AAPL240119C00150000", "BTCUSD"]);
    assert_eq!(holdings.unsupported[0].market_value, Some(dec!(420)));
}
