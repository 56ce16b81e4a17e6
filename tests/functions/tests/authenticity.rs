//! Only an authentic plan trades (issue 21): the functions as their Lambdas wire them, with
//! signing keys and no unsigned sources (a stage without a Python owner). A forged plan — a bare
//! detail by direct invoke, an envelope written by hand, an altered or wrongly signed plan, one
//! from a source that may not send unsigned events — is recorded as a refused dead letter and
//! places no order; its workflow is not failed on the forger's say-so; a genuine plan, made by
//! the portfolio function from a signed signal, trades.

use std::sync::Arc;

use alchemiser_bus::{EventHandler, InMemoryBus, RecordingHandler};
use alchemiser_deadletters::MemoryDeadLetterRecorder;
use alchemiser_events::{decode_value, EventType, HandlerName};
use alchemiser_lambda::signing::{sign, Authenticity, LocalKeys, LocalSigner, Unsigned};
use alchemiser_lambda::{
    Adapters, InvocationContext, InvocationOutcome, Invoke, Invoker, TriggerInvoker,
};
use alchemiser_trading::{
    ExecutionHandler, ExecutionSettings, PaperBroker, PlannerConfig, PortfolioFile,
    PortfolioHandler, StrategyHandler,
};
use serde_json::{json, Value};

const SIGNAL: &str = include_str!("../../../examples/events/SignalGenerated.eventbridge.json");
const PLAN: &str = include_str!("../../../examples/events/RebalancePlanned.eventbridge.json");

fn captured() -> ExecutionSettings {
    ExecutionSettings {
        max_plan_age: std::time::Duration::from_secs(100 * 366 * 24 * 3600),
        max_workflow_age: std::time::Duration::from_secs(100 * 366 * 24 * 3600),
        ..ExecutionSettings::default()
    }
}

fn example(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn account() -> Arc<PaperBroker> {
    Arc::new(PaperBroker::in_memory(
        PortfolioFile::from_json(
            r#"{"cash": "0.00", "positions": [
                {"symbol": "SPY", "qty": "30", "price": "100.00"},
                {"symbol": "TLT", "qty": "70", "price": "100.00"}]}"#,
        )
        .unwrap(),
    ))
}

/// The stage's keys (one secret: each producer's key derives from it).
fn keys() -> Arc<LocalKeys> {
    LocalKeys::from_secret(b"the stage's signing secret".to_vec())
}

struct Function {
    invoker: Invoker,
    published: Arc<RecordingHandler>,
    dead_letters: Arc<MemoryDeadLetterRecorder>,
}

fn function(name: HandlerName, handler: Arc<dyn EventHandler>, unsigned: Unsigned) -> Function {
    let bus = Arc::new(InMemoryBus::new());
    let published = RecordingHandler::on_every_type(&bus);
    let (mut adapters, dead_letters) = Adapters::in_memory(bus);
    adapters.authenticity = Authenticity::local(keys(), unsigned);
    Function {
        invoker: Invoker::new(name, handler, adapters),
        published,
        dead_letters,
    }
}

fn strict() -> Unsigned {
    Unsigned::FromSources(Default::default())
}

fn execution(broker: Arc<PaperBroker>) -> Function {
    function(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(broker, captured())),
        strict(),
    )
}

/// The example plan as the portfolio function would sign it, in an envelope.
async fn signed_plan(signer: &str) -> Value {
    let received = decode_value(example(PLAN)).unwrap();
    let mut event = received.event;
    sign(&LocalSigner::new(keys(), signer), &mut event)
        .await
        .unwrap();
    let mut envelope = example(PLAN);
    envelope["detail"] = event.to_value();
    envelope
}

fn lambda_context() -> InvocationContext {
    InvocationContext {
        function_arn: Some(
            // The examples' account and region.
            "arn:aws:lambda:eu-west-2:111122223333:function:alchemiser-execution-prod".into(),
        ),
        ..InvocationContext::local()
    }
}

async fn refused(function: &Function, payload: Value) -> String {
    let outcome = function
        .invoker
        .invoke(payload, &lambda_context())
        .await
        .unwrap();
    let InvocationOutcome::RecordedFailure { reason, .. } = outcome else {
        panic!("not refused: {outcome:?}")
    };
    // Recorded as refused (a forgery never ends a genuine workflow), and nothing announced.
    let records = function.dead_letters.records();
    assert_eq!(records.last().unwrap().error_class, "refused");
    assert!(function.published.events().is_empty());
    reason
}

#[tokio::test]
async fn a_bare_plan_by_direct_invoke_is_refused_and_trades_nothing() {
    let broker = account();
    let execution = execution(broker.clone());
    let reason = refused(&execution, example(PLAN)["detail"].clone()).await;
    assert!(
        reason.contains("unsigned") && reason.contains("direct invoke"),
        "{reason}"
    );
    assert!(broker.snapshot().unwrap().orders.is_empty());
}

#[tokio::test]
async fn a_hand_written_envelope_is_refused_whatever_source_account_or_region_it_claims() {
    let broker = account();
    let execution = execution(broker.clone());
    // The portfolio's own source, this account and region: still unsigned.
    let reason = refused(&execution, example(PLAN)).await;
    assert!(
        reason.contains("unsigned") && reason.contains("alchemiser.portfolio"),
        "{reason}"
    );
    // A signed plan in an envelope from another account or region: not EventBridge's.
    let mut elsewhere = signed_plan("portfolio").await;
    elsewhere["account"] = json!("999999999999");
    elsewhere["region"] = json!("mars-1");
    let outcome = execution
        .invoker
        .invoke(elsewhere, &lambda_context())
        .await
        .unwrap();
    assert!(
        matches!(&outcome, InvocationOutcome::RecordedFailure { reason, .. } if reason.contains("999999999999")),
        "{outcome:?}"
    );
    assert!(broker.snapshot().unwrap().orders.is_empty());
}

#[tokio::test]
async fn an_altered_or_wrongly_signed_plan_is_refused() {
    let broker = account();
    let execution = execution(broker.clone());
    // Signed, then its drift tolerance opened wide (what a forger wants).
    let mut altered = signed_plan("portfolio").await;
    altered["detail"]["rebalance_plan"]["max_drift_tolerance"] = json!("1");
    let reason = refused(&execution, altered).await;
    assert!(reason.contains("forged or altered"), "{reason}");
    // Signed by the strategy's key: the strategy does not make plans.
    let reason = refused(&execution, signed_plan("strategy").await).await;
    assert!(
        reason.contains("does not produce RebalancePlanned"),
        "{reason}"
    );
    // Signed with a key of another stage (another secret).
    let received = decode_value(example(PLAN)).unwrap();
    let mut event = received.event;
    let other = LocalKeys::from_secret(b"another stage".to_vec());
    sign(&LocalSigner::new(other, "portfolio"), &mut event)
        .await
        .unwrap();
    let mut envelope = example(PLAN);
    envelope["detail"] = event.to_value();
    let reason = refused(&execution, envelope).await;
    assert!(reason.contains("forged or altered"), "{reason}");
    // A replay-derived plan stripped of its mark no longer verifies.
    let mut replayed = decode_value(example(PLAN)).unwrap().event;
    replayed
        .header_mut()
        .add_provenance(&alchemiser_events::Provenance::replayed("after-outage"));
    sign(&LocalSigner::new(keys(), "portfolio"), &mut replayed)
        .await
        .unwrap();
    let mut stripped = example(PLAN);
    stripped["detail"] = replayed.to_value();
    stripped["detail"]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("provenance");
    let reason = refused(&execution, stripped).await;
    assert!(reason.contains("forged or altered"), "{reason}");
    assert!(broker.snapshot().unwrap().orders.is_empty());
}

#[tokio::test]
async fn a_genuine_plan_trades_and_a_redriven_one_still_verifies() {
    let broker = account();
    let execution = execution(broker.clone());
    let mut redriven = signed_plan("portfolio").await;
    // A redrive marks the detail: the signature still holds.
    redriven["detail"]["metadata"]["provenance"] = json!({"redriven_from": "msg-1"});
    let outcome = execution
        .invoker
        .invoke(redriven, &lambda_context())
        .await
        .unwrap();
    assert!(
        matches!(outcome, InvocationOutcome::Handled { .. }),
        "{outcome:?}"
    );
    assert_eq!(broker.snapshot().unwrap().orders.len(), 2);
    // What execution published is signed by execution, and verifies.
    let published = execution.published.events();
    let signature = published[0].header().signature().expect("signed");
    assert_eq!(signature.signer, "execution");
}

#[tokio::test]
async fn a_replayed_plan_redriven_with_its_mark_verifies_and_stays_a_replay() {
    // A live plan, signed, delivered by an archive replay (the mark is on the envelope only),
    // fails there and is redriven: forwarding writes the replay's mark into the detail. A mark
    // added to a signed event only ever makes it less live, so the signature still holds.
    let broker = account();
    let execution = execution(broker.clone());
    let mut replayed = signed_plan("portfolio").await;
    replayed["replay-name"] = json!("after-outage");
    let forwarded = alchemiser_eventbridge::Outgoing::forward(decode_value(replayed).unwrap())
        .with_provenance(&alchemiser_events::Provenance {
            redriven_from: Some("msg-7".into()),
            ..Default::default()
        });
    assert_eq!(
        forwarded.detail["metadata"]["provenance"]["replay_name"],
        "after-outage"
    );
    let mut redriven = example(PLAN);
    redriven["detail"] = forwarded.detail;
    let outcome = execution
        .invoker
        .invoke(redriven, &lambda_context())
        .await
        .unwrap();
    assert!(
        matches!(outcome, InvocationOutcome::Handled { .. }),
        "{outcome:?}"
    );
    assert!(
        broker.snapshot().unwrap().orders.is_empty(),
        "a replay traded"
    );
}

#[tokio::test]
async fn the_python_systems_unsigned_events_only_where_it_owns_the_producer() {
    let broker = account();
    let mut python_plan = example(PLAN);
    python_plan["source"] = json!("alchemiser.portfolio_v2.handlers");
    python_plan["detail"]["source_module"] = json!("portfolio_v2.handlers");
    // Prod: no Python owner, no unsigned source.
    let reason = refused(&execution(broker.clone()), python_plan.clone()).await;
    assert!(
        reason.contains("alchemiser.portfolio_v2.handlers"),
        "{reason}"
    );
    // A stage that lets the Python system own the portfolio says so.
    let allowed = function(
        HandlerName::Execution,
        Arc::new(ExecutionHandler::new(broker.clone(), captured())),
        Unsigned::FromSources(["alchemiser.portfolio_v2.handlers".to_owned()].into()),
    );
    let outcome = allowed
        .invoker
        .invoke(python_plan, &lambda_context())
        .await
        .unwrap();
    assert!(
        matches!(outcome, InvocationOutcome::Handled { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn the_chain_from_a_signed_signal_to_the_trade_verifies_at_every_step() {
    let broker = account();
    // The strategy's signal, signed by the strategy.
    let mut signal = decode_value(example(SIGNAL)).unwrap().event;
    sign(&LocalSigner::new(keys(), "strategy"), &mut signal)
        .await
        .unwrap();
    let mut envelope = example(SIGNAL);
    envelope["source"] = json!("alchemiser.strategy");
    envelope["detail"] = signal.to_value();
    envelope["detail"]["source_module"] = json!("strategy");
    let mut signal = decode_value(envelope.clone()).unwrap().event;
    sign(&LocalSigner::new(keys(), "strategy"), &mut signal)
        .await
        .unwrap();
    envelope["detail"] = signal.to_value();
    let portfolio = function(
        HandlerName::Portfolio,
        Arc::new(PortfolioHandler::new(
            broker.clone(),
            PlannerConfig::default(),
        )),
        strict(),
    );
    let outcome = portfolio
        .invoker
        .invoke(envelope, &lambda_context())
        .await
        .unwrap();
    assert!(
        matches!(outcome, InvocationOutcome::Handled { .. }),
        "{outcome:?}"
    );
    let [plan] = &portfolio.published.events()[..] else {
        panic!("one plan")
    };
    assert_eq!(plan.header().signature().unwrap().signer, "portfolio");
    let mut delivered = example(PLAN);
    delivered["detail"] = plan.to_value();
    let execution = execution(broker.clone());
    let outcome = execution
        .invoker
        .invoke(delivered, &lambda_context())
        .await
        .unwrap();
    assert!(
        matches!(outcome, InvocationOutcome::Handled { .. }),
        "{outcome:?}"
    );
    assert!(!broker.snapshot().unwrap().orders.is_empty());
}

#[tokio::test]
async fn a_start_cannot_choose_the_allocation() {
    let strategy =
        StrategyHandler::from_allocation_json(r#"{"SPY": "0.6", "TLT": "0.4"}"#).unwrap();
    let bus = Arc::new(InMemoryBus::new());
    let published = RecordingHandler::on_every_type(&bus);
    let (adapters, dead_letters) = Adapters::in_memory(bus);
    let invoker = TriggerInvoker::new("strategy", Arc::new(strategy), adapters);
    let outcome = invoker
        .invoke(
            json!({"target_allocations": {"QQQ": "1.0"}}),
            &InvocationContext::local(),
        )
        .await
        .unwrap();
    assert!(
        matches!(&outcome, InvocationOutcome::RecordedFailure { reason, .. } if reason.contains("may not name an allocation")),
        "{outcome:?}"
    );
    assert_eq!(dead_letters.records().len(), 1);
    // Its workflow shows as started and failed, never as a signal for QQQ.
    assert!(!published
        .events()
        .iter()
        .any(|e| e.event_type() == EventType::SignalGenerated));
}
