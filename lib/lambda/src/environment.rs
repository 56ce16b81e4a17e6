//! What a function builds from its environment at cold start, and its Lambda loop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alchemiser_bus::{EventBus, EventHandler};
use alchemiser_eventbridge::{bus_from_env, parse_flag, ConfigError};
use alchemiser_events::HandlerName;
use alchemiser_trading::{
    AlpacaBroker, AlpacaConfig, Broker, PaperBroker, PaperBrokerError, StrategyHandler,
};
use aws_config::SdkConfig;
use lambda_runtime::{service_fn, tower, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::aws::load_sdk_config;
use crate::dynamodb::DynamoDbStore;
use crate::failure::SqsFailureSink;
use crate::idempotency::IdempotencyConfig;
use crate::invoker::{InvocationError, Invoke, Invoker};
use crate::logging;
use crate::metrics::Metrics;
use crate::strategy::StrategyInvoker;

/// A function's environment is incomplete or wrong. Raised at cold start, so the function
/// fails to initialise with this message instead of misbehaving later.
#[derive(Debug, Error)]
pub enum EnvironmentError {
    /// A required variable is missing.
    #[error("{variable} is not set: {hint}")]
    Missing {
        /// The variable.
        variable: &'static str,
        /// What it should hold.
        hint: &'static str,
    },
    /// A variable holds something unusable.
    #[error("{variable}=`{value}` is not valid: {hint}")]
    Invalid {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        hint: String,
    },
    /// The broker secret cannot be read or is incomplete.
    #[error("broker secret `{name}`: {reason}")]
    Secret {
        /// The secret's name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// The publisher's configuration is wrong.
    #[error(transparent)]
    Publisher(#[from] ConfigError),
    /// The paper account file cannot be used.
    #[error(transparent)]
    Paper(#[from] PaperBrokerError),
}

fn required(variable: &'static str, hint: &'static str) -> Result<String, EnvironmentError> {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .ok_or(EnvironmentError::Missing { variable, hint })
}

fn flag(variable: &'static str, default: bool) -> Result<bool, EnvironmentError> {
    match std::env::var(variable) {
        Err(_) => Ok(default),
        Ok(value) => Ok(parse_flag(variable, &value, default)?),
    }
}

fn seconds(variable: &'static str, default: u64) -> Result<Duration, EnvironmentError> {
    match std::env::var(variable) {
        Err(_) => Ok(Duration::from_secs(default)),
        Ok(value) => value
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| EnvironmentError::Invalid {
                variable,
                value,
                hint: "a whole number of seconds".into(),
            }),
    }
}

/// The keys stored in the broker secret (`BROKER_SECRET_NAME`), as JSON.
#[derive(Deserialize)]
struct BrokerSecret {
    #[serde(rename = "ALPACA_API_KEY_ID")]
    key_id: String,
    #[serde(rename = "ALPACA_API_SECRET_KEY")]
    secret_key: String,
    #[serde(rename = "ALPACA_TRADING_URL", default)]
    trading_url: Option<String>,
    #[serde(rename = "ALPACA_DATA_URL", default)]
    data_url: Option<String>,
}

/// The broker `BROKER` names: `alpaca` (default; keys from the Secrets Manager secret
/// `BROKER_SECRET_NAME`, read once per cold start, never from plain variables) or `paper` (the
/// account file `PAPER_BROKER_STATE`).
pub async fn broker_from_env(sdk: &SdkConfig) -> Result<Arc<dyn Broker>, EnvironmentError> {
    let kind = std::env::var("BROKER").unwrap_or_else(|_| "alpaca".into());
    match kind.trim().to_ascii_lowercase().as_str() {
        "paper" => {
            let path = required(
                "PAPER_BROKER_STATE",
                "the paper account file (JSON) the paper broker trades in",
            )?;
            Ok(Arc::new(PaperBroker::open(path)?))
        }
        "alpaca" => {
            let name = required(
                "BROKER_SECRET_NAME",
                "the Secrets Manager secret holding the Alpaca keys",
            )?;
            let secret_error = |reason: String| EnvironmentError::Secret {
                name: name.clone(),
                reason,
            };
            let text = aws_sdk_secretsmanager::Client::new(sdk)
                .get_secret_value()
                .secret_id(&name)
                .send()
                .await
                .map_err(|e| {
                    secret_error(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
                })?
                .secret_string
                .ok_or_else(|| secret_error("has no string value".into()))?;
            let keys: BrokerSecret = serde_json::from_str(&text).map_err(|e| {
                secret_error(format!(
                    "expected JSON with ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY ({e}); set it with `aws secretsmanager put-secret-value`"
                ))
            })?;
            let mut config = AlpacaConfig::new(keys.key_id, keys.secret_key);
            if let Some(url) = keys.trading_url {
                config.trading_url = url;
            }
            if let Some(url) = keys.data_url {
                config.data_url = url;
            }
            Ok(Arc::new(
                AlpacaBroker::new(config).map_err(|e| secret_error(e.to_string()))?,
            ))
        }
        _ => Err(EnvironmentError::Invalid {
            variable: "BROKER",
            value: kind,
            hint: "`alpaca` or `paper`".into(),
        }),
    }
}

struct Shared {
    store: Arc<DynamoDbStore>,
    bus: Arc<dyn EventBus>,
    failures: Arc<SqsFailureSink>,
    metrics: Metrics,
}

async fn shared(function: HandlerName, sdk: &SdkConfig) -> Result<Shared, EnvironmentError> {
    let table = required(
        "IDEMPOTENCY_TABLE_NAME",
        "the DynamoDB table that guards against duplicate deliveries",
    )?;
    let queue = required(
        "FAILURE_QUEUE_URL",
        "the SQS queue where permanent failures are recorded",
    )?;
    let config = IdempotencyConfig {
        in_progress_expiry: seconds("IDEMPOTENCY_IN_PROGRESS_SECONDS", 300)?,
        record_ttl: seconds("IDEMPOTENCY_TTL_SECONDS", 366 * 24 * 60 * 60)?,
    };
    let stage = std::env::var("STAGE").unwrap_or_else(|_| "local".into());
    Ok(Shared {
        store: Arc::new(DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table,
            config,
        )),
        bus: bus_from_env()?,
        failures: Arc::new(SqsFailureSink::new(aws_sdk_sqs::Client::new(sdk), queue)),
        metrics: Metrics::emf(stage, function.as_str()),
    })
}

/// Builds a consuming function (portfolio, execution, monitor) from its environment, with the
/// handler `build_handler` makes. The handler is built by the function's own entry point, so each
/// binary links only the adapters it uses (the monitor has no broker, hence no Secrets Manager
/// client and no HTTP broker client).
pub async fn consumer_from_env<F, Fut>(
    function: HandlerName,
    build_handler: F,
) -> Result<Invoker, EnvironmentError>
where
    F: FnOnce(SdkConfig) -> Fut,
    Fut: Future<Output = Result<Arc<dyn EventHandler>, EnvironmentError>>,
{
    let sdk = load_sdk_config().await;
    let shared = shared(function, &sdk).await?;
    let handler = build_handler(sdk).await?;
    Ok(Invoker::new(
        function,
        handler,
        shared.store,
        shared.bus,
        shared.failures,
        shared.metrics,
    ))
}

/// `ALLOW_REPLAY_EXECUTION` (default false): whether replayed events may place orders.
pub fn allow_replay_execution() -> Result<bool, EnvironmentError> {
    flag("ALLOW_REPLAY_EXECUTION", false)
}

/// Builds the strategy function from its environment (`STRATEGY_ALLOCATION`: symbol → weight).
pub async fn strategy_from_env() -> Result<StrategyInvoker, EnvironmentError> {
    let sdk = load_sdk_config().await;
    let shared = shared(HandlerName::Strategy, &sdk).await?;
    let allocation = required(
        "STRATEGY_ALLOCATION",
        "the target allocation as JSON, e.g. {\"SPY\": \"0.6\", \"TLT\": \"0.4\"}",
    )?;
    let strategy = StrategyHandler::from_allocation_json(&allocation).map_err(|hint| {
        EnvironmentError::Invalid {
            variable: "STRATEGY_ALLOCATION",
            value: allocation.clone(),
            hint,
        }
    })?;
    Ok(StrategyInvoker::new(
        strategy,
        shared.store,
        shared.bus,
        shared.failures,
        shared.metrics,
    ))
}

/// The Lambda loop of a consuming function whose handler `build_handler` makes at cold start.
pub async fn run_consumer<F, Fut>(
    function: HandlerName,
    build_handler: F,
) -> Result<(), lambda_runtime::Error>
where
    F: FnOnce(SdkConfig) -> Fut,
    Fut: Future<Output = Result<Arc<dyn EventHandler>, EnvironmentError>>,
{
    logging::init_json();
    serve(Arc::new(cold_start(
        consumer_from_env(function, build_handler).await,
    )?))
    .await
}

/// The Lambda loop of the strategy function.
pub async fn run_strategy() -> Result<(), lambda_runtime::Error> {
    logging::init_json();
    serve(Arc::new(cold_start(strategy_from_env().await)?)).await
}

/// A failed cold start is logged, then fails the function's initialisation with its message.
fn cold_start<T>(built: Result<T, EnvironmentError>) -> Result<T, EnvironmentError> {
    built.inspect_err(|error| tracing::error!(%error, "cold start failed"))
}

async fn serve(invoker: Arc<dyn Invoke>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(handler_service(invoker)).await
}

/// The tower service lambda_runtime runs: a payload in, the outcome's response or a classified
/// error out. Tests call it in-process with `LambdaEvent::new(payload, Context::default())`.
pub fn handler_service(
    invoker: Arc<dyn Invoke>,
) -> impl tower::Service<
    LambdaEvent<Value>,
    Response = Value,
    Error = InvocationError,
    Future = impl std::future::Future<Output = Result<Value, InvocationError>> + Send,
> + Clone {
    service_fn(move |event: LambdaEvent<Value>| {
        let invoker = invoker.clone();
        async move {
            invoker
                .invoke(event.payload)
                .await
                .map(|outcome| outcome.to_response())
        }
    })
}
