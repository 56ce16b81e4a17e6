//! What every function builds from its environment at cold start — the idempotency store, the
//! dead-letter queue, the bus, the metrics — and its Lambda loop.

use std::error::Error;
use std::future::Future;
use std::sync::Arc;

use alchemiser_bus::{error_chain, EventBus, EventHandler, TriggerHandler};
use alchemiser_deadletters::SqsDeadLetterRecorder;
use alchemiser_eventbridge::{bus_from_env, ConfigError};
use alchemiser_events::{HandlerName, DEFAULT_SOURCE_PREFIX};
use aws_config::SdkConfig;
use lambda_runtime::{service_fn, tower, LambdaEvent};
use serde_json::Value;
use thiserror::Error;

use crate::follow_ups::{FollowUps, SqsFollowUps};
use crate::idempotency::{DynamoDbStore, IdempotencyConfig};
use crate::invoker::{
    Adapters, InvocationContext, InvocationError, Invoke, Invoker, ScheduleOrEvent, TriggerInvoker,
};
use crate::logging;
use alchemiser_metrics::Metrics;
use alchemiser_settings::{required, seconds, SettingError};

/// Whether this execution environment has served an invocation (the first one is a cold start).
static WARM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The runtime's own settings are wrong.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// A variable of the runtime (`IDEMPOTENCY_TABLE_NAME`, `DEAD_LETTER_QUEUE_URL`, ...).
    #[error(transparent)]
    Env(#[from] SettingError),
    /// The publisher's configuration (`USE_EVENTBRIDGE`, `EVENTBRIDGE_*`).
    #[error(transparent)]
    Publisher(#[from] ConfigError),
}

/// A function's environment, read at cold start: the AWS configuration and the adapters every
/// invocation uses. The entry point adds its handler.
pub struct FunctionEnvironment {
    function: HandlerName,
    sdk: SdkConfig,
    adapters: Adapters,
    mode: RunMode,
    source_prefix: String,
}

/// How a function runs (`ALCHEMISER_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunMode {
    /// It owns its step: it places orders and publishes what it emits.
    #[default]
    Live,
    /// It runs beside the live owner (the Python system) on the same events, in dry run: the
    /// entry point gives it a bus that records instead of publishing and no way to trade. Its
    /// idempotency keys are its own (`…#shadow`).
    Shadow,
}

impl RunMode {
    /// The idempotency-key scope of this mode.
    pub const fn key_scope(self) -> Option<&'static str> {
        match self {
            RunMode::Live => None,
            RunMode::Shadow => Some("shadow"),
        }
    }

    /// Reads `ALCHEMISER_MODE`: `live` (the default) or `shadow`.
    pub fn from_env() -> Result<Self, SettingError> {
        let value = alchemiser_settings::text("ALCHEMISER_MODE").unwrap_or_default();
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "live" => Ok(RunMode::Live),
            "shadow" => Ok(RunMode::Shadow),
            _ => Err(SettingError::Invalid {
                variable: "ALCHEMISER_MODE",
                value,
                hint: "expected live or shadow (the stage's owner of this function)".into(),
            }),
        }
    }
}

impl FunctionEnvironment {
    /// Reads `IDEMPOTENCY_TABLE_NAME`, `DEAD_LETTER_QUEUE_URL`, `IDEMPOTENCY_MARGIN_SECONDS`,
    /// `IDEMPOTENCY_TTL_SECONDS`, `STAGE` and the publisher's variables (`USE_EVENTBRIDGE`,
    /// `EVENTBRIDGE_*`). No AWS call is made here.
    pub async fn from_env(function: HandlerName) -> Result<Self, RuntimeError> {
        let sdk = alchemiser_aws::load_sdk_config().await;
        let table = required(
            "IDEMPOTENCY_TABLE_NAME",
            "the DynamoDB table that guards against duplicate deliveries",
        )?;
        let queue = required(
            "DEAD_LETTER_QUEUE_URL",
            "the stage's dead-letter queue (SQS), where permanent failures are recorded",
        )?;
        let defaults = IdempotencyConfig::default();
        let idempotency = IdempotencyConfig {
            in_progress_margin: seconds(
                "IDEMPOTENCY_MARGIN_SECONDS",
                defaults.in_progress_margin.as_secs(),
            )?,
            record_ttl: seconds("IDEMPOTENCY_TTL_SECONDS", defaults.record_ttl.as_secs())?,
            ..defaults
        };
        let stage = alchemiser_settings::text("STAGE").unwrap_or_else(|| "local".into());
        let follow_ups =
            alchemiser_settings::text("FOLLOW_UP_QUEUE_URL").map(|url| -> Arc<dyn FollowUps> {
                Arc::new(SqsFollowUps::new(aws_sdk_sqs::Client::new(&sdk), url))
            });
        let authenticity = authenticity_from_env(&sdk, function)?;
        let adapters = Adapters {
            follow_ups,
            authenticity,
            store: Arc::new(DynamoDbStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                table,
                idempotency,
            )),
            bus: bus_from_env()?,
            dead_letters: Arc::new(
                SqsDeadLetterRecorder::new(aws_sdk_sqs::Client::new(&sdk), queue).with_max_bytes(
                    usize::try_from(alchemiser_settings::whole_number(
                        "DEAD_LETTER_QUEUE_MAX_BYTES",
                        alchemiser_deadletters::recorder::DEFAULT_MAX_MESSAGE_BYTES as u64,
                    )?)
                    .unwrap_or(usize::MAX),
                ),
            ),
            metrics: Metrics::emf(stage, function.as_str()),
            idempotency,
            clock: alchemiser_clock::system(),
        };
        let source_prefix = alchemiser_settings::text("EVENTBRIDGE_SOURCE_PREFIX")
            .unwrap_or_else(|| DEFAULT_SOURCE_PREFIX.to_owned());
        Ok(Self {
            function,
            sdk,
            adapters,
            mode: RunMode::from_env()?,
            source_prefix,
        })
    }

    /// The function's mode (`ALCHEMISER_MODE`).
    pub fn mode(&self) -> RunMode {
        self.mode
    }

    /// The stage name (`STAGE`, `local` when unset).
    pub fn stage(&self) -> String {
        alchemiser_settings::text("STAGE").unwrap_or_else(|| "local".into())
    }

    /// The same environment with emitted events going to `bus` instead (a shadow's recorder).
    pub fn with_bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.adapters.bus = bus;
        self
    }

    /// The adapters every invocation uses.
    pub fn adapters(&self) -> &Adapters {
        &self.adapters
    }

    /// The AWS configuration, for the clients the entry point creates (e.g. Secrets Manager).
    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The invoker of a function that consumes contract events with `handler`.
    pub fn consumer(self, handler: Arc<dyn EventHandler>) -> Arc<dyn Invoke> {
        Arc::new(self.consumer_invoker(handler))
    }

    fn consumer_invoker(&self, handler: Arc<dyn EventHandler>) -> Invoker {
        let invoker = Invoker::new(self.function, handler, self.adapters.clone())
            .with_source_prefix(self.source_prefix.clone());
        match self.mode.key_scope() {
            Some(scope) => invoker.with_key_scope(scope),
            None => invoker,
        }
    }

    fn trigger_invoker(&self, handler: Arc<dyn TriggerHandler>) -> TriggerInvoker {
        let invoker = TriggerInvoker::new(self.function.as_str(), handler, self.adapters.clone());
        match self.mode.key_scope() {
            Some(scope) => invoker.with_key_scope(scope),
            None => invoker,
        }
    }

    /// The invoker of a function started by triggers, with `handler`.
    pub fn trigger(self, handler: Arc<dyn TriggerHandler>) -> Arc<dyn Invoke> {
        Arc::new(self.trigger_invoker(handler))
    }

    /// The invoker of a function that consumes events with `events` and runs `scheduled` when
    /// its schedule fires (an EventBridge Scheduler envelope, `source` `aws.scheduler`): the
    /// monitor keeps the ledger from events and sweeps it on a schedule.
    pub fn consumer_and_schedule(
        self,
        events: Arc<dyn EventHandler>,
        scheduled: Arc<dyn TriggerHandler>,
    ) -> Arc<dyn Invoke> {
        Arc::new(ScheduleOrEvent {
            events: self.consumer_invoker(events),
            scheduled: self.trigger_invoker(scheduled),
        })
    }
}

/// The Lambda loop of `function`: installs the JSON logs, reads the environment, lets `build`
/// add the handler (the entry point picks its adapters), then serves invocations. A failed cold
/// start is logged and fails the function's initialisation with its message.
pub async fn run_function<F, Fut, E>(
    function: HandlerName,
    build: F,
) -> Result<(), lambda_runtime::Error>
where
    F: FnOnce(FunctionEnvironment) -> Fut,
    Fut: Future<Output = Result<Arc<dyn Invoke>, E>>,
    E: Error + Send + Sync + 'static,
{
    logging::init_json();
    let invoker = match FunctionEnvironment::from_env(function).await {
        Ok(environment) => build(environment)
            .await
            .map_err(|e| cold_start_failed(&e))?,
        Err(error) => return Err(cold_start_failed(&error)),
    };
    run(invoker).await
}

/// Who signs what this function emits and who made what it receives: `SIGNING_KEY_ID` (its KMS
/// HMAC key), `VERIFY_KEY_IDS` (signer → key id(s) of the producers of what it consumes),
/// `UNSIGNED_SOURCES` (sources whose unsigned events it accepts: the Python system's, on a stage
/// where it owns a producer). Key ids starting `local:` use local keys from
/// `ALCHEMISER_LOCAL_SIGNING_SECRET` instead (local runs and tests of the built functions; the
/// stack never sets them).
fn authenticity_from_env(
    sdk: &SdkConfig,
    function: HandlerName,
) -> Result<alchemiser_signing::Authenticity, SettingError> {
    use alchemiser_signing::{
        Authenticity, KmsSigner, KmsVerifier, LocalKeys, Unsigned, VerifyKeys,
    };
    let key = required(
        "SIGNING_KEY_ID",
        "the KMS HMAC key this function signs its events with (alias/alchemiser-<stage>-<handler>-signing)",
    )?;
    let verify_text = required(
        "VERIFY_KEY_IDS",
        "the signing keys of the producers of the events this function consumes, as JSON: {\"portfolio\": \"arn:aws:kms:...\"}",
    )?;
    let keys = VerifyKeys::parse(&verify_text).map_err(|hint| SettingError::Invalid {
        variable: "VERIFY_KEY_IDS",
        value: verify_text.clone(),
        hint,
    })?;
    let unsigned = Unsigned::FromSources(
        alchemiser_settings::text("UNSIGNED_SOURCES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|source| !source.is_empty())
            .map(str::to_owned)
            .collect(),
    );
    if key.starts_with(alchemiser_signing::local::LOCAL_KEY_PREFIX) {
        let secret = required(
            alchemiser_signing::local::LOCAL_SECRET_VARIABLE,
            "the secret of the local signing keys SIGNING_KEY_ID=local:... names (local runs only)",
        )?;
        return Ok(Authenticity::local(
            LocalKeys::from_secret(secret.into_bytes()),
            unsigned,
        ));
    }
    let client = aws_sdk_kms::Client::new(sdk);
    Ok(Authenticity {
        signer: Some(Arc::new(KmsSigner::new(
            client.clone(),
            function.as_str(),
            key,
        ))),
        local: None,
        verifier: Arc::new(KmsVerifier::new(client, keys)),
        unsigned,
    })
}

fn cold_start_failed(error: &dyn Error) -> lambda_runtime::Error {
    let message = error_chain(error);
    tracing::error!(error = %message, "cold start failed");
    message.into()
}

/// Serves invocations with `invoker` until the Lambda environment ends.
pub async fn run(invoker: Arc<dyn Invoke>) -> Result<(), lambda_runtime::Error> {
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
    Future = impl Future<Output = Result<Value, InvocationError>> + Send,
> + Clone {
    service_fn(move |event: LambdaEvent<Value>| {
        let invoker = invoker.clone();
        async move {
            let context = InvocationContext::from(&event.context);
            let ids = alchemiser_metrics::Invocation {
                request_id: context.request_id.clone(),
                trace_id: context.trace_id.clone(),
            };
            alchemiser_metrics::during(ids, async move {
                if !WARM.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    invoker.metrics().cold_start();
                }
                match sqs_messages(&event.payload) {
                    Some(messages) => Ok(invoke_each(invoker.as_ref(), messages, &context).await),
                    None => invoker
                        .invoke(event.payload, &context)
                        .await
                        .map(|outcome| outcome.to_response()),
                }
            })
            .await
        }
    })
}

/// One message of an SQS event (a follow-up from the function's follow-up queue).
struct SqsMessage {
    id: String,
    body: Value,
}

/// The messages of an SQS event source mapping's batch, or `None` when `payload` is not one.
fn sqs_messages(payload: &Value) -> Option<Vec<SqsMessage>> {
    let records = payload.get("Records")?.as_array()?;
    let from_sqs =
        |record: &Value| record.get("eventSource").and_then(Value::as_str) == Some("aws:sqs");
    if records.is_empty() || !records.iter().all(from_sqs) {
        return None;
    }
    Some(
        records
            .iter()
            .map(|record| {
                let text = record
                    .get("body")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                SqsMessage {
                    id: record
                        .get("messageId")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    // A body that is not JSON goes through as text: the invoker refuses it for
                    // good (a dead letter), so it does not come back forever.
                    body: serde_json::from_str(text)
                        .unwrap_or_else(|_| Value::String(text.to_owned())),
                }
            })
            .collect(),
    )
}

/// Invokes each message of a batch; those that must be retried are reported as batch item
/// failures (SQS makes them visible again after the queue's visibility timeout), the rest are
/// deleted by the event source mapping.
async fn invoke_each(
    invoker: &dyn Invoke,
    messages: Vec<SqsMessage>,
    context: &InvocationContext,
) -> Value {
    let mut failures = Vec::new();
    for message in messages {
        if let Err(error) = invoker.invoke(message.body, context).await {
            tracing::warn!(message_id = %message.id, %error, "follow-up failed; SQS delivers it again");
            failures.push(serde_json::json!({"itemIdentifier": message.id}));
        }
    }
    serde_json::json!({"batchItemFailures": failures})
}
