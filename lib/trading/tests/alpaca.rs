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
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "order-1", "status": "filled", "filled_qty": "1.5", "filled_avg_price": "100.10"
        })))
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
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "order-1", "status": "accepted", "filled_qty": "0"})),
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
        error.is_retryable() && error.to_string().contains("503"),
        "{error}"
    );
    let error = broker.holdings().await.unwrap_err();
    assert!(
        error.is_retryable() && error.to_string().contains("rate limit"),
        "{error}"
    );
    let error = broker
        .latest_price(&Symbol::parse("SPY").unwrap())
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error}");
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
async fn every_alpaca_status_maps_and_only_working_or_filled_orders_count() {
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
        ("replaced", OrderStatus::Pending),
        ("canceled", OrderStatus::Canceled),
        ("expired", OrderStatus::Expired),
        ("done_for_day", OrderStatus::Expired),
        ("rejected", OrderStatus::Rejected),
        ("suspended", OrderStatus::Rejected),
    ];
    for (alpaca, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v2/orders:by_client_order_id"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": "o-1", "status": alpaca, "filled_qty": "0"})),
            )
            .mount(&server)
            .await;
        let found = broker(&server).await.order("any").await.unwrap().unwrap();
        assert_eq!(found.status, expected, "{alpaca}");
        let counts = matches!(
            expected,
            OrderStatus::Filled | OrderStatus::PartiallyFilled | OrderStatus::Pending
        );
        assert_eq!(found.status.is_working_or_filled(), counts, "{alpaca}");
    }
    // A status this adapter does not know is never taken for a success.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/orders:by_client_order_id"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "o-1", "status": "teleported"})),
        )
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
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "order-1", "status": "canceled", "filled_qty": "0"})),
        )
        .mount(&server)
        .await;
    let outcome = broker(&server)
        .await
        .place_market_order(&order("SPY"))
        .await
        .unwrap();
    assert_eq!(outcome.status, OrderStatus::Canceled);
    assert!(!outcome.status.is_working_or_filled());
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
                .set_body_json(json!({"id": "order-1", "status": "accepted"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/orders:by_client_order_id"))
        .and(query_param("client_order_id", "plan-1-SPY-buy"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "order-1", "status": "filled", "filled_qty": "1.5", "filled_avg_price": "100"}),
        ))
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
