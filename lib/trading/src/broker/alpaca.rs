//! Alpaca's trading REST API v2 (paper endpoint by default) behind the broker port.

use std::time::Duration;

use alchemiser_events::{Decimal, Symbol};
use async_trait::async_trait;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use thiserror::Error;

use super::{
    Account, Broker, BrokerError, Holdings, OrderOutcome, OrderRequest, OrderStatus, Position,
    UnsupportedPosition,
};

/// Paper trading endpoint: the default, so nothing trades real money by accident.
pub const PAPER_TRADING_URL: &str = "https://paper-api.alpaca.markets";
/// Market data endpoint.
pub const DATA_URL: &str = "https://data.alpaca.markets";

/// How to reach Alpaca.
#[derive(Clone)]
pub struct AlpacaConfig {
    /// API key id (`APCA-API-KEY-ID`).
    pub key_id: String,
    /// API secret (`APCA-API-SECRET-KEY`).
    pub secret_key: String,
    /// Trading API base URL.
    pub trading_url: String,
    /// Market data API base URL.
    pub data_url: String,
    /// Timeout of each request.
    pub timeout: Duration,
}

impl std::fmt::Debug for AlpacaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlpacaConfig")
            .field("key_id", &self.key_id)
            .field("secret_key", &"<redacted>")
            .field("trading_url", &self.trading_url)
            .field("data_url", &self.data_url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl AlpacaConfig {
    /// Keys given directly (e.g. read from Secrets Manager); paper endpoints.
    pub fn new(key_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
            secret_key: secret_key.into(),
            trading_url: PAPER_TRADING_URL.into(),
            data_url: DATA_URL.into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Reads the keys `ALPACA_API_KEY_ID` and `ALPACA_API_SECRET_KEY` through `lookup`, with
    /// `ALPACA_TRADING_URL` and `ALPACA_DATA_URL` overriding the endpoints: the one parser of the
    /// broker keys, whether they come from the Secrets Manager secret's JSON or anywhere else.
    pub fn from_keys(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MissingKey> {
        let value = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| value(name).ok_or(MissingKey(name));
        let mut config = Self::new(
            required("ALPACA_API_KEY_ID")?,
            required("ALPACA_API_SECRET_KEY")?,
        );
        if let Some(url) = value("ALPACA_TRADING_URL") {
            config.trading_url = url;
        }
        if let Some(url) = value("ALPACA_DATA_URL") {
            config.data_url = url;
        }
        Ok(config)
    }
}

/// A required broker key is missing or empty.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0} is missing or empty: the Alpaca broker needs its API key id and secret key")]
pub struct MissingKey(pub &'static str);

/// The Alpaca broker.
pub struct AlpacaBroker {
    config: AlpacaConfig,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct AccountBody {
    cash: Decimal,
    #[serde(default)]
    portfolio_value: Option<Decimal>,
    #[serde(default)]
    equity: Option<Decimal>,
}

#[derive(Deserialize)]
struct PositionBody {
    symbol: String,
    qty: Decimal,
    current_price: Decimal,
    #[serde(default)]
    market_value: Option<Decimal>,
    #[serde(default)]
    asset_class: Option<String>,
}

#[derive(Deserialize)]
struct LatestTradeBody {
    trade: TradeBody,
}

#[derive(Deserialize)]
struct TradeBody {
    p: Decimal,
}

#[derive(Deserialize)]
struct OrderBody {
    id: String,
    status: String,
    #[serde(default)]
    filled_qty: Option<Decimal>,
    #[serde(default)]
    filled_avg_price: Option<Decimal>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

impl AlpacaBroker {
    /// A broker for `config`.
    pub fn new(config: AlpacaConfig) -> Result<Self, BrokerError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| BrokerError::Permanent(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { config, http })
    }

    fn request(&self, method: Method, url: String) -> RequestBuilder {
        self.http
            .request(method, url)
            .header("APCA-API-KEY-ID", &self.config.key_id)
            .header("APCA-API-SECRET-KEY", &self.config.secret_key)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        what: &str,
        request: RequestBuilder,
    ) -> Result<T, Failure> {
        let response = request.send().await.map_err(|e| Failure {
            error: BrokerError::Transient(format!("{what}: {e}")),
            // A request that never connected decided nothing; any other lost answer may have.
            maybe_done: !e.is_connect(),
            status: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return response.json::<T>().await.map_err(|e| Failure {
                error: BrokerError::Transient(format!("{what}: unreadable response: {e}")),
                maybe_done: true,
                status: Some(status),
            });
        }
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&body)
            .map(|b| b.message)
            .ok()
            .filter(|m| !m.is_empty())
            .unwrap_or(body);
        Err(Failure {
            error: classify(what, status, &message),
            maybe_done: status.is_server_error(),
            status: Some(status),
        })
    }

    /// The order with `client_order_id`, or `None` when Alpaca has none (404).
    async fn order_by_client_id(
        &self,
        client_order_id: &str,
    ) -> Result<Option<OrderOutcome>, BrokerError> {
        let url = format!("{}/v2/orders:by_client_order_id", self.config.trading_url);
        let found = self
            .send::<OrderBody>(
                "look up order by client_order_id",
                self.request(Method::GET, url)
                    .query(&[("client_order_id", client_order_id)]),
            )
            .await;
        match found {
            Ok(body) => outcome(body).map(Some),
            Err(failure) if failure.status == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(failure) => Err(failure.error),
        }
    }
}

/// A failed request: the error, and whether the broker may have acted on it anyway.
struct Failure {
    error: BrokerError,
    maybe_done: bool,
    status: Option<StatusCode>,
}

/// 429 and 5xx are the broker's trouble (retry); other 4xx are ours (do not).
fn classify(what: &str, status: StatusCode, message: &str) -> BrokerError {
    let text = format!("{what}: HTTP {status}: {message}");
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        BrokerError::Transient(text)
    } else {
        BrokerError::Permanent(text)
    }
}

/// Alpaca's order statuses (all eighteen of its documented ones) on the port's: anything else is
/// a transient error — the order's state is unknown, so nothing is counted as done.
fn status(alpaca: &str) -> Result<OrderStatus, BrokerError> {
    Ok(match alpaca {
        "filled" => OrderStatus::Filled,
        "partially_filled" => OrderStatus::PartiallyFilled,
        // Working: may still fill.
        "new" | "accepted" | "pending_new" | "accepted_for_bidding" | "calculated" | "held"
        | "stopped" | "pending_cancel" | "pending_replace" | "replaced" => OrderStatus::Pending,
        "canceled" => OrderStatus::Canceled,
        // Done for the day: no more fills today, so for this plan it expired.
        "expired" | "done_for_day" => OrderStatus::Expired,
        "rejected" | "suspended" => OrderStatus::Rejected,
        other => {
            return Err(BrokerError::Transient(format!(
                "Alpaca reported order status `{other}`, which this adapter does not know; the order's state is unknown"
            )))
        }
    })
}

fn outcome(order: OrderBody) -> Result<OrderOutcome, BrokerError> {
    Ok(OrderOutcome {
        status: status(&order.status)?,
        order_id: order.id,
        filled_qty: order.filled_qty.unwrap_or_default(),
        fill_price: order.filled_avg_price,
    })
}

#[async_trait]
impl Broker for AlpacaBroker {
    async fn account(&self) -> Result<Account, BrokerError> {
        let url = format!("{}/v2/account", self.config.trading_url);
        let body: AccountBody = self
            .send("read account", self.request(Method::GET, url))
            .await
            .map_err(|f| f.error)?;
        Ok(Account {
            cash: body.cash,
            portfolio_value: body.portfolio_value.or(body.equity),
        })
    }

    async fn holdings(&self) -> Result<Holdings, BrokerError> {
        let url = format!("{}/v2/positions", self.config.trading_url);
        let body: Vec<PositionBody> = self
            .send("read positions", self.request(Method::GET, url))
            .await
            .map_err(|f| f.error)?;
        let mut holdings = Holdings::default();
        for position in body {
            let unsupported = |reason: String| UnsupportedPosition {
                symbol: position.symbol.clone(),
                reason,
                market_value: position.market_value,
            };
            if let Some(class) = position
                .asset_class
                .as_deref()
                .filter(|c| *c != "us_equity")
            {
                holdings.unsupported.push(unsupported(format!(
                    "asset class `{class}`: only US equities are traded"
                )));
                continue;
            }
            match Symbol::parse(&position.symbol) {
                Ok(symbol) => holdings.positions.push(Position {
                    symbol,
                    qty: position.qty,
                    price: position.current_price,
                }),
                Err(error) => holdings.unsupported.push(unsupported(error.to_string())),
            }
        }
        for left in &holdings.unsupported {
            tracing::warn!(symbol = %left.symbol, reason = %left.reason, "position left alone");
        }
        Ok(holdings)
    }

    async fn latest_price(&self, symbol: &Symbol) -> Result<Decimal, BrokerError> {
        let url = format!("{}/v2/stocks/{symbol}/trades/latest", self.config.data_url);
        let body: LatestTradeBody = self
            .send(
                &format!("latest trade of {symbol}"),
                self.request(Method::GET, url),
            )
            .await
            .map_err(|f| f.error)?;
        Ok(body.trade.p)
    }

    async fn place_market_order(&self, order: &OrderRequest) -> Result<OrderOutcome, BrokerError> {
        let url = format!("{}/v2/orders", self.config.trading_url);
        let request = self.request(Method::POST, url).json(&json!({
            "symbol": order.symbol.as_str(),
            "qty": order.qty.to_string(),
            "side": order.side.as_str(),
            "type": "market",
            "time_in_force": "day",
            "client_order_id": order.client_order_id,
        }));
        let what = format!("{} {} {}", order.side.as_str(), order.qty, order.symbol);
        let failure = match self.send::<OrderBody>(&what, request).await {
            Ok(body) => return outcome(body),
            Err(failure) => failure,
        };
        let duplicate = matches!(&failure.error, BrokerError::Permanent(message)
            if message.contains("client_order_id must be unique"));
        if !duplicate && !failure.maybe_done {
            return Err(failure.error);
        }
        // Alpaca refuses a second order with the same client_order_id (the first one stands), and
        // a lost answer may hide a placed order: either way, what the broker has decides.
        tracing::info!(client_order_id = %order.client_order_id, error = %failure.error, "looking the order up by client_order_id");
        match self.order_by_client_id(&order.client_order_id).await {
            Ok(Some(found)) => Ok(found),
            Ok(None) if duplicate => Err(BrokerError::Transient(format!(
                "{what}: Alpaca says client_order_id {} is taken but has no such order; retry later",
                order.client_order_id
            ))),
            Ok(None) => Err(BrokerError::Transient(format!(
                "{what}: not placed ({}); retry: the same client_order_id keeps it from being placed twice",
                failure.error
            ))),
            Err(lookup) => Err(BrokerError::Transient(format!(
                "{what}: outcome unknown ({}), and looking it up failed ({lookup}); retry: the same client_order_id keeps it from being placed twice",
                failure.error
            ))),
        }
    }

    async fn order(&self, client_order_id: &str) -> Result<Option<OrderOutcome>, BrokerError> {
        self.order_by_client_id(client_order_id).await
    }
}
