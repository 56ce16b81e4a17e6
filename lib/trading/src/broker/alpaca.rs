//! Alpaca's trading REST API v2 (paper endpoint by default) behind the broker port.

use std::time::Duration;

use alchemiser_events::{Decimal, Symbol};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use thiserror::Error;

use super::{
    Account, Broker, BrokerError, Holdings, OrderOutcome, OrderRequest, OrderSide, OrderStatus,
    Position, UnsupportedPosition,
};
use crate::market::{MarketClock, TradingDay};

/// The most orders one `GET /v2/orders` page returns (Alpaca's limit).
const ORDERS_PAGE: usize = 500;

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
    #[serde(default)]
    client_order_id: String,
    symbol: String,
    side: OrderSide,
    #[serde(default)]
    qty: Option<Decimal>,
    status: String,
    #[serde(default)]
    filled_qty: Option<Decimal>,
    #[serde(default)]
    filled_avg_price: Option<Decimal>,
    #[serde(default)]
    submitted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    replaced_by: Option<String>,
}

#[derive(Deserialize)]
struct ClockBody {
    timestamp: DateTime<Utc>,
    is_open: bool,
    next_open: DateTime<Utc>,
    next_close: DateTime<Utc>,
}

#[derive(Deserialize)]
struct CalendarDayBody {
    date: NaiveDate,
    open: String,
    close: String,
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
        let response = request.send().await.map_err(|e| {
            // A request that never connected decided nothing; any other lost answer may have.
            let error = if e.is_connect() {
                BrokerError::Transient(format!("{what}: {e}"))
            } else {
                BrokerError::AnswerLost(format!("{what}: {e}"))
            };
            Failure {
                error,
                status: None,
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return response.json::<T>().await.map_err(|e| Failure {
                error: BrokerError::AnswerLost(format!("{what}: unreadable response: {e}")),
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
            status: Some(status),
        })
    }

    /// Sends a request whose answer carries no body the adapter reads (a cancel).
    async fn send_empty(&self, what: &str, request: RequestBuilder) -> Result<(), Failure> {
        match self.send::<serde_json::Value>(what, request).await {
            Ok(_) => Ok(()),
            // 204 No Content: an empty body is the answer.
            Err(Failure {
                error: BrokerError::AnswerLost(_),
                status: Some(status),
            }) if status.is_success() => Ok(()),
            Err(failure) => Err(failure),
        }
    }

    /// Every order `GET /v2/orders` lists for `query`, page after page (oldest first).
    async fn list_orders(
        &self,
        what: &str,
        status: &str,
        mut after: Option<DateTime<Utc>>,
    ) -> Result<Vec<OrderOutcome>, BrokerError> {
        let url = format!("{}/v2/orders", self.config.trading_url);
        let mut orders: Vec<OrderOutcome> = Vec::new();
        loop {
            let mut query = vec![
                ("status", status.to_owned()),
                ("direction", "asc".to_owned()),
                ("limit", ORDERS_PAGE.to_string()),
                ("nested", "false".to_owned()),
            ];
            if let Some(after) = after {
                // `after` is exclusive and second-precise: ask from a second before and drop
                // what was already seen.
                query.push(("after", (after - chrono::Duration::seconds(1)).to_rfc3339()));
            }
            let page: Vec<OrderBody> = self
                .send(what, self.request(Method::GET, url.clone()).query(&query))
                .await
                .map_err(|f| f.error)?;
            let full = page.len() >= ORDERS_PAGE;
            let mut newest = after;
            for body in page {
                let order = outcome(body)?;
                newest = newest.max(order.submitted_at);
                if !orders.iter().any(|o| o.order_id == order.order_id) {
                    orders.push(order);
                }
            }
            if !full || newest == after {
                return Ok(orders);
            }
            after = newest;
        }
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

/// A failed request: the error (whose kind says whether the broker may have acted on it), and
/// the HTTP status when one came back.
struct Failure {
    error: BrokerError,
    status: Option<StatusCode>,
}

/// 429 is the rate limit; 502/503 mean the request was not taken; other 5xx may hide a request
/// that took effect (a gateway timeout after the order reached the broker); other 4xx are ours.
fn classify(what: &str, status: StatusCode, message: &str) -> BrokerError {
    let text = format!("{what}: HTTP {status}: {message}");
    match status {
        StatusCode::TOO_MANY_REQUESTS => BrokerError::RateLimited(text),
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE => BrokerError::Transient(text),
        status if status.is_server_error() => BrokerError::AnswerLost(text),
        _ => BrokerError::Permanent(text),
    }
}

/// Alpaca's order statuses (its eighteen, `docs/notes/alpaca-broker-facts.md` §1) on the
/// port's: final are `filled`, `canceled`, `expired`, `rejected` and `replaced` (final for this
/// order; the replacement is someone else's); every other documented status may still fill, be
/// canceled or expire, so it is open — partly filled when something filled. Anything else is an
/// error: the order's state is unknown, so nothing is counted as done.
fn status(alpaca: &str, filled: Decimal) -> Result<OrderStatus, BrokerError> {
    Ok(match alpaca {
        "filled" => OrderStatus::Filled,
        "canceled" => OrderStatus::Canceled,
        "expired" => OrderStatus::Expired,
        "rejected" => OrderStatus::Rejected,
        "replaced" => OrderStatus::Replaced,
        "partially_filled" => OrderStatus::PartiallyFilled,
        "new" | "accepted" | "pending_new" | "accepted_for_bidding" | "held" | "stopped"
        | "pending_cancel" | "pending_replace" | "calculated" | "done_for_day" | "suspended"
        | "pending_review" => {
            if filled > Decimal::ZERO {
                OrderStatus::PartiallyFilled
            } else {
                OrderStatus::Pending
            }
        }
        other => {
            return Err(BrokerError::Transient(format!(
                "Alpaca reported order status `{other}`, which this adapter does not know; the order's state is unknown"
            )))
        }
    })
}

fn outcome(order: OrderBody) -> Result<OrderOutcome, BrokerError> {
    let filled_qty = order.filled_qty.unwrap_or_default();
    let symbol = Symbol::parse(&order.symbol).map_err(|e| {
        BrokerError::Permanent(format!(
            "Alpaca order {} is for `{}`, which is not a symbol this system trades: {e}",
            order.id, order.symbol
        ))
    })?;
    Ok(OrderOutcome {
        status: status(&order.status, filled_qty)?,
        broker_status: order.status,
        // An order given by notional has no qty until it fills.
        qty: order.qty.unwrap_or(filled_qty),
        filled_qty,
        // Alpaca sends 0 until an order placed outside the session is processed.
        fill_price: order.filled_avg_price.filter(|p| !p.is_zero()),
        order_id: order.id,
        client_order_id: order.client_order_id,
        symbol,
        side: order.side,
        submitted_at: order.submitted_at,
        replaced_by: order.replaced_by,
    })
}

/// `HH:MM` on `date` in New York, in UTC (the calendar's times are New York local times).
fn new_york_time(date: NaiveDate, text: &str) -> Result<DateTime<Utc>, BrokerError> {
    let time = NaiveTime::parse_from_str(text, "%H:%M").map_err(|e| {
        BrokerError::Permanent(format!(
            "Alpaca's calendar gives `{text}` for {date}, which is not HH:MM: {e}"
        ))
    })?;
    New_York
        .from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            BrokerError::Permanent(format!(
                "{date} {text} does not exist in New York time (Alpaca's calendar)"
            ))
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
        if !duplicate && !matches!(failure.error, BrokerError::AnswerLost(_)) {
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
            Err(lookup) => Err(BrokerError::AnswerLost(format!(
                "{what}: outcome unknown ({}), and looking it up failed ({lookup}); retry: the same client_order_id keeps it from being placed twice",
                failure.error
            ))),
        }
    }

    async fn order(&self, client_order_id: &str) -> Result<Option<OrderOutcome>, BrokerError> {
        self.order_by_client_id(client_order_id).await
    }

    /// `DELETE /v2/orders/{id}`: 204 means the cancel was requested (the order may still fill
    /// first); 422 means the order is no longer cancelable (already final), which is no error.
    async fn cancel_order(&self, order_id: &str) -> Result<(), BrokerError> {
        let url = format!("{}/v2/orders/{order_id}", self.config.trading_url);
        match self
            .send_empty(
                &format!("cancel order {order_id}"),
                self.request(Method::DELETE, url),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(failure) if failure.status == Some(StatusCode::UNPROCESSABLE_ENTITY) => {
                tracing::info!(order_id, error = %failure.error, "order no longer cancelable");
                Ok(())
            }
            Err(failure) => Err(failure.error),
        }
    }

    async fn open_orders(&self) -> Result<Vec<OrderOutcome>, BrokerError> {
        self.list_orders("list open orders", "open", None).await
    }

    async fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<OrderOutcome>, BrokerError> {
        let orders = self
            .list_orders("list the day's orders", "all", Some(since))
            .await?;
        Ok(orders
            .into_iter()
            .filter(|o| o.submitted_at.is_none_or(|at| at >= since))
            .collect())
    }

    async fn market_clock(&self) -> Result<MarketClock, BrokerError> {
        let url = format!("{}/v2/clock", self.config.trading_url);
        let body: ClockBody = self
            .send("read the market clock", self.request(Method::GET, url))
            .await
            .map_err(|f| f.error)?;
        Ok(MarketClock {
            now: body.timestamp,
            is_open: body.is_open,
            next_open: body.next_open,
            next_close: body.next_close,
        })
    }

    async fn trading_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TradingDay>, BrokerError> {
        let url = format!("{}/v2/calendar", self.config.trading_url);
        let body: Vec<CalendarDayBody> = self
            .send(
                "read the market calendar",
                self.request(Method::GET, url)
                    .query(&[("start", from.to_string()), ("end", to.to_string())]),
            )
            .await
            .map_err(|f| f.error)?;
        body.into_iter()
            .map(|day| {
                Ok(TradingDay {
                    date: day.date,
                    open: new_york_time(day.date, &day.open)?,
                    close: new_york_time(day.date, &day.close)?,
                })
            })
            .collect()
    }
}
