//! Alpaca's trading REST API v2 (paper endpoint by default) behind the broker port.

use std::time::Duration;

use alchemiser_events::{Decimal, Symbol};
use async_trait::async_trait;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use thiserror::Error;

use super::{Account, Broker, BrokerError, OrderOutcome, OrderRequest, OrderStatus, Position};

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
}

#[derive(Deserialize)]
struct PositionBody {
    symbol: String,
    qty: Decimal,
    current_price: Decimal,
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
    ) -> Result<T, BrokerError> {
        let response = request.send().await.map_err(|e| {
            // Timeouts, refused connections and resets are worth retrying; nothing was decided.
            BrokerError::Transient(format!("{what}: {e}"))
        })?;
        let status = response.status();
        if status.is_success() {
            return response
                .json::<T>()
                .await
                .map_err(|e| BrokerError::Transient(format!("{what}: unreadable response: {e}")));
        }
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&body)
            .map(|b| b.message)
            .ok()
            .filter(|m| !m.is_empty())
            .unwrap_or(body);
        Err(classify(what, status, &message))
    }

    async fn order_by_client_id(&self, client_order_id: &str) -> Result<OrderBody, BrokerError> {
        let url = format!("{}/v2/orders:by_client_order_id", self.config.trading_url);
        self.send(
            "look up order by client_order_id",
            self.request(Method::GET, url)
                .query(&[("client_order_id", client_order_id)]),
        )
        .await
    }
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

fn outcome(order: OrderBody) -> OrderOutcome {
    OrderOutcome {
        status: if order.status == "filled" {
            OrderStatus::Filled
        } else {
            OrderStatus::Accepted
        },
        order_id: order.id,
        filled_qty: order.filled_qty.unwrap_or_default(),
        fill_price: order.filled_avg_price,
    }
}

#[async_trait]
impl Broker for AlpacaBroker {
    async fn account(&self) -> Result<Account, BrokerError> {
        let url = format!("{}/v2/account", self.config.trading_url);
        let body: AccountBody = self
            .send("read account", self.request(Method::GET, url))
            .await?;
        Ok(Account { cash: body.cash })
    }

    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        let url = format!("{}/v2/positions", self.config.trading_url);
        let body: Vec<PositionBody> = self
            .send("read positions", self.request(Method::GET, url))
            .await?;
        body.into_iter()
            .map(|p| {
                let symbol = Symbol::parse(&p.symbol)
                    .map_err(|e| BrokerError::Permanent(format!("Alpaca position: {e}")))?;
                Ok(Position {
                    symbol,
                    qty: p.qty,
                    price: p.current_price,
                })
            })
            .collect()
    }

    async fn latest_price(&self, symbol: &Symbol) -> Result<Decimal, BrokerError> {
        let url = format!("{}/v2/stocks/{symbol}/trades/latest", self.config.data_url);
        let body: LatestTradeBody = self
            .send(
                &format!("latest trade of {symbol}"),
                self.request(Method::GET, url),
            )
            .await?;
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
        match self
            .send::<OrderBody>(
                &format!("{} {} {}", order.side.as_str(), order.qty, order.symbol),
                request,
            )
            .await
        {
            Ok(body) => Ok(outcome(body)),
            // Alpaca refuses a second order with the same client_order_id: the first one stands.
            Err(BrokerError::Permanent(message))
                if message.contains("client_order_id must be unique") =>
            {
                tracing::info!(client_order_id = %order.client_order_id, "order already placed, returning it");
                self.order_by_client_id(&order.client_order_id)
                    .await
                    .map(outcome)
            }
            Err(error) => Err(error),
        }
    }
}
