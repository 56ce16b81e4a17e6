//! What the trading functions build from their environment at cold start: the broker the
//! portfolio and execution functions trade with, the strategy's target allocation, the stage's
//! execution settings, the workflow ledger and the dead-letter queue the monitor keeps and
//! sweeps, and what a function in shadow mode gets instead of a live bus and broker. The
//! consumer runtime (`alchemiser-lambda`) knows none of this; each function's entry point calls
//! what it needs from here.

use std::sync::Arc;
use std::time::Duration;

use alchemiser_deadletters::{DeadLetters, SqsDeadLetters};
use alchemiser_events::HandlerName;
use alchemiser_lambda::{FunctionEnvironment, RunMode};
use alchemiser_ledger::{DynamoDbLedger, LedgerStore, ShadowRecorder, DEFAULT_WORKFLOW_DEADLINE};
use alchemiser_settings::{days, flag, required, seconds, SettingError};
use alchemiser_trading::{
    AllocationError, AlpacaBroker, AlpacaConfig, Broker, BrokerError, CachedHalt,
    ExecutionSettings, MemoryHalt, MissingKey, PaperBroker, PaperBrokerError, ReadOnlyBroker,
    RiskLimits, RunAt, RunAtError, StrategyHandler, TradingHalt, HALT_CACHE,
};
use aws_config::SdkConfig;
use serde_json::{Map, Value};
use thiserror::Error;

mod halt;

pub use halt::SsmTradingHalt;

/// The trading settings of a function are incomplete or wrong.
#[derive(Debug, Error)]
pub enum WiringError {
    /// A variable is missing or unusable.
    #[error(transparent)]
    Env(#[from] SettingError),
    /// The broker secret cannot be read.
    #[error(
        "broker secret `{name}` cannot be read; check that it exists and that the role may read it"
    )]
    SecretUnreadable {
        /// The secret's name.
        name: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The broker secret holds no usable keys.
    #[error("broker secret `{name}` must be JSON with ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY; set it with `aws secretsmanager put-secret-value --secret-id {name} --secret-string '{{\"ALPACA_API_KEY_ID\": \"...\", \"ALPACA_API_SECRET_KEY\": \"...\"}}'`")]
    SecretContent {
        /// The secret's name.
        name: String,
        /// What is wrong with it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The Alpaca client cannot be built.
    #[error("cannot create the Alpaca broker")]
    Broker(#[source] BrokerError),
    /// The paper account file cannot be used.
    #[error(transparent)]
    Paper(#[from] PaperBrokerError),
    /// `STRATEGY_ALLOCATION` is not a target allocation.
    #[error("STRATEGY_ALLOCATION is not a target allocation (e.g. {{\"SPY\": \"0.6\", \"TLT\": \"0.4\"}})")]
    Allocation(#[source] AllocationError),
    /// `STRATEGY_RUN_AT` is not a run time.
    #[error(transparent)]
    RunAt(#[from] RunAtError),
    /// The function cannot run in the mode its stage gives it.
    #[error("the {function} function cannot run with ALCHEMISER_MODE=shadow: {why}")]
    NoShadow {
        /// The function.
        function: HandlerName,
        /// Why, and what to set instead.
        why: &'static str,
    },
}

/// The broker `BROKER` names: `alpaca` (default; keys from the Secrets Manager secret
/// `BROKER_SECRET_NAME`, read once per cold start, never from plain variables) or `paper` (the
/// account file `PAPER_BROKER_STATE`).
pub async fn broker(sdk: &SdkConfig) -> Result<Arc<dyn Broker>, WiringError> {
    let kind = alchemiser_settings::text("BROKER").unwrap_or_else(|| "alpaca".into());
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
            let keys = read_secret(sdk, &name).await?;
            let config = AlpacaConfig::from_keys(|key| {
                keys.get(key).and_then(Value::as_str).map(str::to_owned)
            })
            .map_err(|source: MissingKey| WiringError::SecretContent {
                name: name.clone(),
                source: Box::new(source),
            })?;
            Ok(Arc::new(
                AlpacaBroker::new(config).map_err(WiringError::Broker)?,
            ))
        }
        _ => Err(SettingError::Invalid {
            variable: "BROKER",
            value: kind,
            hint: "`alpaca` or `paper`".into(),
        }
        .into()),
    }
}

async fn read_secret(sdk: &SdkConfig, name: &str) -> Result<Map<String, Value>, WiringError> {
    let text = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .map_err(|e| WiringError::SecretUnreadable {
            name: name.to_owned(),
            source: Box::new(e),
        })?
        .secret_string
        .ok_or_else(|| WiringError::SecretContent {
            name: name.to_owned(),
            source: "it has no string value".into(),
        })?;
    serde_json::from_str(&text).map_err(|e| WiringError::SecretContent {
        name: name.to_owned(),
        source: Box::new(e),
    })
}

/// The stage's rules for trading a plan: `ALLOW_REPLAY_EXECUTION` (default false: plans derived
/// from archive replays run dry), `MAX_PLAN_AGE_SECONDS` (default 900: older plans are refused),
/// `MAX_FILL_WAIT_SECONDS` (default 20: how long one invocation waits for fills),
/// `STOP_BEFORE_CLOSE_SECONDS` (default 120: no order this close to the close),
/// `WORKFLOW_DEADLINE_SECONDS` (default 1800: plans of workflows older than the monitor's
/// deadline are refused), and the pre-trade limits `MAX_ORDER_NOTIONAL`, `MAX_PLAN_TURNOVER`,
/// `MAX_DAILY_BUY_NOTIONAL`, `MAX_DAILY_ORDERS`, `MAX_FAILED_SELL_NOTIONAL` and `BUY_ALLOW_LIST`
/// (see [`RiskLimits`] for their defaults).
pub fn execution_settings() -> Result<ExecutionSettings, SettingError> {
    let defaults = ExecutionSettings::default();
    let limits = RiskLimits::from_settings(alchemiser_settings::text)?;
    Ok(ExecutionSettings {
        allow_replay_execution: flag("ALLOW_REPLAY_EXECUTION", false)?,
        max_plan_age: seconds("MAX_PLAN_AGE_SECONDS", defaults.max_plan_age.as_secs())?,
        max_fill_wait: seconds("MAX_FILL_WAIT_SECONDS", defaults.max_fill_wait.as_secs())?,
        stop_before_close: seconds(
            "STOP_BEFORE_CLOSE_SECONDS",
            defaults.stop_before_close.as_secs(),
        )?,
        max_workflow_age: workflow_deadline()?,
        limits,
        ..defaults
    })
}

/// The stage's kill switch: the SSM parameter `TRADING_HALT_PARAMETER` (the stack sets it on
/// execution), read at most every [`HALT_CACHE`]. Unset (a local run of the function): a switch
/// that is never flipped, said in the log.
pub fn trading_halt(sdk: &SdkConfig) -> Arc<dyn TradingHalt> {
    let name = alchemiser_settings::text("TRADING_HALT_PARAMETER");
    let Some(name) = name else {
        tracing::warn!("TRADING_HALT_PARAMETER is not set: this function has no kill switch");
        return Arc::new(MemoryHalt::new());
    };
    Arc::new(CachedHalt::new(
        Arc::new(SsmTradingHalt::new(aws_sdk_ssm::Client::new(sdk), name)),
        alchemiser_clock::system(),
        HALT_CACHE,
    ))
}

/// How long a workflow may run without a terminal event (`WORKFLOW_DEADLINE_SECONDS`, default
/// 1800): the monitor's sweep times it out then, and execution no longer trades its plans.
pub fn workflow_deadline() -> Result<Duration, SettingError> {
    seconds(
        "WORKFLOW_DEADLINE_SECONDS",
        DEFAULT_WORKFLOW_DEADLINE.as_secs(),
    )
}

/// The workflow ledger: the DynamoDB table `LEDGER_TABLE_NAME`, items kept
/// `LEDGER_RETENTION_DAYS` (default 90).
pub fn ledger(sdk: &SdkConfig) -> Result<Arc<dyn LedgerStore>, SettingError> {
    let table = required(
        "LEDGER_TABLE_NAME",
        "the DynamoDB table of the workflow ledger (alchemiser-workflow-ledger-<stage>)",
    )?;
    Ok(Arc::new(DynamoDbLedger::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table,
        days(
            "LEDGER_RETENTION_DAYS",
            alchemiser_ledger::DEFAULT_RETENTION_DAYS,
        )?,
    )))
}

/// The dead-letter queue the sweep reads (`DEAD_LETTER_QUEUE_URL`, where the runtime records
/// permanent failures and the rules send what they could not deliver).
pub fn dead_letters(sdk: &SdkConfig) -> Result<Arc<dyn DeadLetters>, SettingError> {
    let url = required(
        "DEAD_LETTER_QUEUE_URL",
        "the stage's dead-letter queue (SQS), where permanent failures are recorded",
    )?;
    Ok(Arc::new(SqsDeadLetters::new(
        aws_sdk_sqs::Client::new(sdk),
        url,
    )))
}

/// The functions in shadow on this stage (`SHADOW_FUNCTIONS`, comma-separated; the stack sets
/// it on the monitor from the stage's owners).
pub fn shadow_functions() -> Vec<String> {
    alchemiser_settings::text("SHADOW_FUNCTIONS")
        .unwrap_or_default()
        .split(',')
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

/// A consumer's environment and broker for its mode. Live: as given. Shadow: what it emits is
/// recorded in the ledger (`LEDGER_TABLE_NAME`) instead of published, and its broker reads the
/// account but refuses every order — a shadow can neither publish live nor trade.
pub fn for_mode(
    env: FunctionEnvironment,
    function: HandlerName,
    broker: Arc<dyn Broker>,
) -> Result<(FunctionEnvironment, Arc<dyn Broker>), WiringError> {
    match env.mode() {
        RunMode::Live => Ok((env, broker)),
        RunMode::Shadow => {
            let recorder = ShadowRecorder::new(ledger(env.sdk())?, function);
            tracing::info!(%function, "shadow mode: nothing is published and no order is placed");
            Ok((
                env.with_bus(Arc::new(recorder)),
                Arc::new(ReadOnlyBroker::new(broker)),
            ))
        }
    }
}

/// Refuses shadow mode for a function that has none: the strategy starts workflows rather than
/// consuming a live one's events (there is nothing of the live owner's to compare with), and
/// the monitor only observes.
pub fn live_only(env: &FunctionEnvironment, function: HandlerName) -> Result<(), WiringError> {
    match env.mode() {
        RunMode::Live => Ok(()),
        RunMode::Shadow => Err(WiringError::NoShadow {
            function,
            why: match function {
                HandlerName::Monitor => "the monitor only observes and always runs live; remove the setting",
                _ => "it starts workflows instead of consuming the live owner's events; give it the owner rust or python",
            },
        }),
    }
}

/// The strategy of `STRATEGY_ALLOCATION` (symbol → weight, or `{"strategy": ..., "target_allocations": ...}`).
pub fn strategy() -> Result<StrategyHandler, WiringError> {
    let allocation = required(
        "STRATEGY_ALLOCATION",
        "the target allocation as JSON, e.g. {\"SPY\": \"0.6\", \"TLT\": \"0.4\"}",
    )?;
    StrategyHandler::from_allocation_json(&allocation).map_err(WiringError::Allocation)
}

/// The strategy of `STRATEGY_ALLOCATION`, its scheduled ticks judged by `STRATEGY_RUN_AT`
/// (the stack sets both) against the calendar of the stage's broker (`BROKER`), wrapped
/// read-only: the strategy reads the calendar and never places an order. Alpaca has no
/// read-only keys (docs/notes/alpaca-broker-facts.md §5), so the wrapper, not the key, is what
/// keeps the strategy from trading. Without `STRATEGY_RUN_AT` (a local run) every tick starts a
/// workflow, as before.
pub async fn scheduled_strategy(sdk: &SdkConfig) -> Result<StrategyHandler, WiringError> {
    let strategy = strategy()?;
    let Some(text) = alchemiser_settings::text("STRATEGY_RUN_AT") else {
        tracing::warn!("STRATEGY_RUN_AT is not set: every scheduled tick starts a workflow");
        return Ok(strategy);
    };
    let run_at = RunAt::from_json(&text)?;
    let calendar: Arc<dyn Broker> = Arc::new(ReadOnlyBroker::new(broker(sdk).await?));
    Ok(strategy.with_schedule(run_at, calendar))
}
