//! Against LocalStack SQS + EventBridge (run by `scripts/test-operations`; `test = false`, so
//! plain `cargo test` skips it). The stage's DLQ is seeded with one record of each kind (our
//! function's failure record, a Lambda on-failure destination record, a rule-target dead letter
//! with its attributes) and a garbage message. `list` shows all four with kind, ids and reason
//! and leaves them in the queue; `redrive` of a good one delivers its event through a rule to an
//! SQS target and deletes it; garbage is refused with the reason and kept. With `ALCHEMISER_BIN`
//! set, `alchemiser dlq list --json` and `dlq redrive` too; and (needing it) an invalid event's
//! dead letter shown with `--json` and deleted with a reason noted in its workflow's ledger
//! (LocalStack's DynamoDB, which forwards to moto), each look counting one receive.
//!
//! Needs AWS_ENDPOINT_URL (LocalStack, e.g. http://127.0.0.1:4566), credentials and a region.

use std::collections::HashMap;
use std::time::Duration;

use alchemiser_eventbridge::{EventBridgePublisher, OutboxConfig, PublisherConfig};
use alchemiser_events::samples::sample_event;
use alchemiser_events::{decode_value, Event, EventType, FailureRecord, DEFAULT_SOURCE_PREFIX};
use alchemiser_operations::{
    stage_authenticity, DeadLetterKind, DeadLetterQueue, OperationsError, RedriveSelection, Stage,
};
use alchemiser_signing::Authenticity;
use aws_sdk_sqs::types::MessageAttributeValue;
use serde_json::{json, Value};

mod common;
use alchemiser_testkit::{Emulator, EVERY_ALCHEMISER_SOURCE};
use common::{cli, unique_stage, StageKeys};

fn envelope(event: &Event) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": event.event_type().to_string(),
        "source": event
            .event_type()
            .route()
            .source_of(&event.header().source_module, DEFAULT_SOURCE_PREFIX)
            .unwrap(),
        "account": "000000000000",
        "time": "2026-11-28T14:30:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": event.to_value(),
    })
}

fn text(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .unwrap()
}

async fn send(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    body: String,
    attributes: &[(&str, &str)],
) -> String {
    let mut request = sqs.send_message().queue_url(url).message_body(body);
    for (k, v) in attributes {
        request = request.message_attributes(*k, text(v));
    }
    request.send().await.unwrap().message_id.unwrap()
}

fn publisher(stage: &Stage) -> EventBridgePublisher {
    let outbox = std::env::temp_dir().join(format!("ops-dlq-{stage}.jsonl"));
    EventBridgePublisher::new(
        PublisherConfig::default()
            .with_bus_name(stage.bus_name())
            .with_deadline(Duration::from_secs(10))
            .with_outbox(OutboxConfig::File(outbox)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_list_show_and_redrive() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "set AWS_ENDPOINT_URL to LocalStack (scripts/test-operations does)"
    );
    let sdk = alchemiser_aws::load_sdk_config().await;
    let mut emulator = Emulator::with_sdk(&sdk);
    let sqs = emulator.sqs.clone();
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let stage = unique_stage("dq");

    // No queue yet: a clear error naming both ways of finding it.
    let error = DeadLetterQueue::for_stage(&sdk, &stage, None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, OperationsError::QueueNotFound { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("--queue-url"), "{error}");

    // The stage: bus, rule on the `alchemiser.` prefix → target queue, and the DLQ.
    let bus = stage.bus_name();
    emulator.bus(&bus).await;
    let (target_url, target_arn) = emulator.queue(&format!("ops-target-{stage}")).await;
    emulator
        .rule_to_queue(
            &bus,
            &format!("ops-all-{stage}"),
            EVERY_ALCHEMISER_SOURCE,
            &target_arn,
        )
        .await;
    let (dlq_url, _) = emulator.queue(&stage.dlq_name()).await;

    // Found by name (no SSM parameter), then by the SSM parameter.
    let by_name = DeadLetterQueue::for_stage(&sdk, &stage, None)
        .await
        .unwrap();
    assert_eq!(by_name.url(), dlq_url);
    ssm.put_parameter()
        .name(stage.dlq_url_parameter())
        .value(&dlq_url)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let queue = DeadLetterQueue::for_stage(&sdk, &stage, None)
        .await
        .unwrap();
    assert_eq!(queue.url(), dlq_url);

    // Seed one of each kind, plus garbage; each event signed by its producer, as deployed.
    let keys = StageKeys::create(&sdk, &stage).await;
    let failed = keys
        .signed("portfolio", sample_event(EventType::RebalancePlanned))
        .await;
    let record = FailureRecord {
        function: "execution".into(),
        reason: "field `plan.items[0].symbol`: unknown symbol".into(),
        error_class: "permanent".into(),
        event_id: Some(failed.event_id().to_owned()),
        detail_type: Some("RebalancePlanned".into()),
        correlation_id: Some(failed.header().correlation_id.clone()),
        failed_at: chrono::Utc::now(),
        event: envelope(&failed),
    };
    let record_id = send(&sqs, &dlq_url, serde_json::to_string(&record).unwrap(), &[]).await;
    let retried = keys
        .signed("execution", sample_event(EventType::TradeExecuted))
        .await;
    let destination = json!({
        "version": "1.0",
        "timestamp": "2026-11-28T14:35:00.000Z",
        "requestContext": {
            "requestId": "req-1",
            "functionArn": format!("arn:aws:lambda:us-east-1:000000000000:function:alchemiser-monitor-{stage}:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": envelope(&retried),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Timeout", "errorMessage": "broker did not answer"}
    });
    let destination_id = send(&sqs, &dlq_url, destination.to_string(), &[]).await;
    let undelivered = keys
        .signed("strategy", sample_event(EventType::SignalGenerated))
        .await;
    let rule_id = send(
        &sqs,
        &dlq_url,
        envelope(&undelivered).to_string(),
        &[
            ("ERROR_CODE", "SDK_CLIENT_ERROR"),
            ("ERROR_MESSAGE", "Lambda function is throttled"),
            ("RULE_ARN", "arn:aws:events:us-east-1:000000000000:rule/x/y"),
            (
                "TARGET_ARN",
                "arn:aws:lambda:us-east-1:000000000000:function:f",
            ),
        ],
    )
    .await;
    let garbage_id = send(&sqs, &dlq_url, "this is not an event {".into(), &[]).await;

    // list: all four, understood, and still in the queue afterwards.
    let letters = queue.list().await.unwrap().letters;
    assert_eq!(letters.len(), 4, "{letters:#?}");
    let by_id: HashMap<&str, _> = letters.iter().map(|l| (l.message_id.as_str(), l)).collect();
    let r = by_id[record_id.as_str()];
    assert_eq!(r.kind, DeadLetterKind::FunctionFailure);
    assert_eq!(r.event_id.as_deref(), Some(failed.event_id()));
    assert_eq!(r.detail_type.as_deref(), Some("RebalancePlanned"));
    assert!(r.reason.contains("unknown symbol"), "{}", r.reason);
    assert!(r.sent_at.is_some());
    let d = by_id[destination_id.as_str()];
    assert_eq!(d.kind, DeadLetterKind::LambdaOnFailure);
    assert_eq!(d.event_id.as_deref(), Some(retried.event_id()));
    assert_eq!(
        d.correlation_id.as_deref(),
        Some(retried.header().correlation_id.as_str())
    );
    assert!(
        d.reason
            .contains("RetriesExhausted after 3 attempt(s): Timeout"),
        "{}",
        d.reason
    );
    let t = by_id[rule_id.as_str()];
    assert_eq!(t.kind, DeadLetterKind::RuleTarget);
    assert_eq!(t.event_id.as_deref(), Some(undelivered.event_id()));
    assert!(
        t.reason
            .contains("SDK_CLIENT_ERROR: Lambda function is throttled"),
        "{}",
        t.reason
    );
    let g = by_id[garbage_id.as_str()];
    assert_eq!(g.kind, DeadLetterKind::Unreadable);
    assert!(g.reason.contains("not JSON"), "{}", g.reason);
    assert_eq!(
        queue.list().await.unwrap().letters.len(),
        4,
        "list must leave the messages in the queue"
    );

    let shown = queue.show(&garbage_id).await.unwrap();
    assert_eq!(shown.body, "this is not an event {");
    let missing = queue.show("no-such-id").await.unwrap_err();
    assert!(missing.to_string().contains("dlq list"), "{missing}");

    // redrive a good one and the garbage: the good one is delivered and deleted, the garbage kept.
    let publisher = publisher(&stage);
    let authenticity = stage_authenticity(&sdk, &stage).await.unwrap();
    let report = queue
        .redrive(
            &RedriveSelection::Ids(vec![
                record_id.clone(),
                garbage_id.clone(),
                "no-such-id".into(),
            ]),
            &authenticity,
            &publisher,
        )
        .await
        .unwrap();
    assert_eq!(report.redriven.len(), 1, "{report:#?}");
    assert_eq!(report.redriven[0].message_id, record_id);
    assert_eq!(report.redriven[0].event_id, failed.event_id());
    assert_eq!(report.failed.len(), 1, "{report:#?}");
    assert_eq!(report.failed[0].message_id, garbage_id);
    assert!(
        report.failed[0].reason.contains("kept in the queue"),
        "{}",
        report.failed[0].reason
    );
    assert_eq!(report.not_found, vec!["no-such-id".to_owned()]);
    assert!(!report.is_complete());
    let arrived = emulator
        .receive(&target_url, 1, Duration::from_secs(20))
        .await;
    assert_eq!(arrived.len(), 1, "{arrived:?}");
    // The event as it was, saying which dead letter it was redriven from.
    let mut expected = failed.clone();
    expected
        .header_mut()
        .add_provenance(&alchemiser_events::Provenance {
            redriven_from: Some(record_id.clone()),
            ..Default::default()
        });
    assert_eq!(decode_value(arrived[0].clone()).unwrap().event, expected);
    let left: Vec<String> = queue
        .list()
        .await
        .unwrap()
        .letters
        .into_iter()
        .map(|l| l.message_id)
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(!left.contains(&record_id) && left.contains(&garbage_id));

    // The CLI: list --json, then redrive --all (the garbage stays, exit 1).
    if std::env::var("ALCHEMISER_BIN").is_ok() {
        let (stdout, stderr, code) = cli(&["dlq", "list", "--stage", stage.as_str(), "--json"]);
        assert_eq!(code, Some(0), "{stderr}");
        let lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().any(|l| l["kind"] == "unreadable"));
        let (table, _, _) = cli(&["dlq", "list", "--stage", stage.as_str()]);
        assert!(
            table.contains("RetriesExhausted") && table.contains("SDK_CLIENT_ERROR"),
            "{table}"
        );
        let (stdout, _, code) = cli(&["dlq", "redrive", "--all", "--stage", stage.as_str()]);
        assert_eq!(code, Some(1), "{stdout}");
        assert!(stdout.contains("redriven=2 kept=1"), "{stdout}");
        assert!(stdout.contains(&format!("kept {garbage_id}")), "{stdout}");
    } else {
        let report = queue
            .redrive(&RedriveSelection::All, &authenticity, &publisher)
            .await
            .unwrap();
        assert_eq!(report.redriven.len(), 2, "{report:#?}");
        assert_eq!(report.failed.len(), 1, "{report:#?}");
    }
    let arrived = emulator
        .receive(&target_url, 2, Duration::from_secs(20))
        .await;
    let mut ids: Vec<String> = arrived
        .into_iter()
        .map(|b| decode_value(b).unwrap().event.event_id().to_owned())
        .collect();
    ids.sort();
    let mut want = vec![
        retried.event_id().to_owned(),
        undelivered.event_id().to_owned(),
    ];
    want.sort();
    assert_eq!(ids, want);
    let left = queue.list().await.unwrap().letters;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message_id, garbage_id);

    // Clean up (best effort).
    emulator.cleanup().await;
    let _ = ssm
        .delete_parameter()
        .name(stage.dlq_url_parameter())
        .send()
        .await;
}

/// A forged record in the dead-letter queue is never laundered through the operator's
/// credentials: the redrive judges each event as the stage's functions would (its KMS keys, no
/// unsigned source) and keeps, naming why, an unsigned plan, a signed plan altered after it was
/// signed, a plan signed by a producer of something else, and a letter a function already
/// refused; the genuine plan beside them goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_keeps_every_event_the_stage_would_refuse_for_who_made_it() {
    let sdk = alchemiser_aws::load_sdk_config().await;
    let mut emulator = Emulator::with_sdk(&sdk);
    let sqs = emulator.sqs.clone();
    let stage = unique_stage("dqforged");
    let bus = stage.bus_name();
    emulator.bus(&bus).await;
    let (target_url, target_arn) = emulator.queue(&format!("ops-forged-{stage}")).await;
    emulator
        .rule_to_queue(
            &bus,
            &format!("ops-forged-{stage}"),
            EVERY_ALCHEMISER_SOURCE,
            &target_arn,
        )
        .await;
    let (dlq_url, _) = emulator.queue(&stage.dlq_name()).await;
    let keys = StageKeys::create(&sdk, &stage).await;
    let throttled = [("ERROR_CODE", "SDK_CLIENT_ERROR")];

    let genuine = keys
        .signed("portfolio", sample_event(EventType::RebalancePlanned))
        .await;
    let genuine_id = send(&sqs, &dlq_url, envelope(&genuine).to_string(), &throttled).await;
    let unsigned = sample_event(EventType::RebalancePlanned);
    let unsigned_id = send(&sqs, &dlq_url, envelope(&unsigned).to_string(), &throttled).await;
    let mut altered = envelope(
        &keys
            .signed("portfolio", sample_event(EventType::RebalancePlanned))
            .await,
    );
    altered["detail"]["rebalance_plan"]["max_drift_tolerance"] = json!("1");
    let altered_id = send(&sqs, &dlq_url, altered.to_string(), &throttled).await;
    let by_strategy = keys
        .signed("strategy", sample_event(EventType::RebalancePlanned))
        .await;
    let by_strategy_id = send(
        &sqs,
        &dlq_url,
        envelope(&by_strategy).to_string(),
        &throttled,
    )
    .await;
    let already = FailureRecord {
        function: "execution".into(),
        reason: "the event is unsigned and came from `alchemiser.portfolio`".into(),
        error_class: alchemiser_events::REFUSED_CLASS.into(),
        event_id: Some(unsigned.event_id().to_owned()),
        detail_type: Some("RebalancePlanned".into()),
        correlation_id: Some(unsigned.header().correlation_id.clone()),
        failed_at: chrono::Utc::now(),
        event: envelope(&unsigned),
    };
    let already_id = send(
        &sqs,
        &dlq_url,
        serde_json::to_string(&already).unwrap(),
        &[],
    )
    .await;

    let queue = DeadLetterQueue::new(sqs.clone(), &dlq_url);
    let authenticity = stage_authenticity(&sdk, &stage).await.unwrap();
    let report = queue
        .redrive(&RedriveSelection::All, &authenticity, &publisher(&stage))
        .await
        .unwrap();
    assert_eq!(
        report
            .redriven
            .iter()
            .map(|r| &r.message_id)
            .collect::<Vec<_>>(),
        vec![&genuine_id],
        "{report:#?}"
    );
    assert!(report.failed.is_empty(), "{report:#?}");
    let reason_of = |id: &str| {
        report
            .refused
            .iter()
            .find(|r| r.message_id == id)
            .map(|r| r.reason.clone())
            .unwrap_or_else(|| panic!("{id} not refused: {report:#?}"))
    };
    assert!(reason_of(&unsigned_id).contains("unsigned"));
    assert!(reason_of(&altered_id).contains("forged or altered"));
    assert!(reason_of(&by_strategy_id).contains("does not produce RebalancePlanned"));
    assert!(reason_of(&already_id).contains("refused again"));
    assert!(reason_of(&already_id).contains("alchemiser dlq delete"));
    assert!(!report.is_complete());
    // Only the genuine plan reached the bus; the others are still in the queue.
    let arrived = emulator
        .receive(&target_url, 2, Duration::from_secs(5))
        .await;
    assert_eq!(arrived.len(), 1, "{arrived:?}");
    assert_eq!(
        decode_value(arrived[0].clone()).unwrap().event.event_id(),
        genuine.event_id()
    );
    let mut left: Vec<String> = queue
        .list()
        .await
        .unwrap()
        .letters
        .into_iter()
        .map(|l| l.message_id)
        .collect();
    left.sort();
    let mut kept = vec![unsigned_id, altered_id, by_strategy_id, already_id];
    kept.sort();
    assert_eq!(left, kept);

    // A stage whose parameter cannot be read republishes nothing, and says what to do.
    let nowhere = unique_stage("dqnoparam");
    let error = stage_authenticity(&sdk, &nowhere).await.err().unwrap();
    assert!(error.to_string().contains("scripts/deploy"), "{error}");
    emulator.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_to_a_missing_bus_keeps_the_message() {
    let sdk = alchemiser_aws::load_sdk_config().await;
    let mut emulator = Emulator::with_sdk(&sdk);
    let sqs = emulator.sqs.clone();
    let stage = unique_stage("dqnobus");
    let (url, _) = emulator.queue(&format!("ops-nobus-{stage}")).await;
    let event = sample_event(EventType::WorkflowCompleted);
    let message_id = send(
        &sqs,
        &url,
        envelope(&event).to_string(),
        &[("ERROR_CODE", "X")],
    )
    .await;
    let queue = DeadLetterQueue::for_stage(&sdk, &stage, Some(url.clone()))
        .await
        .unwrap();
    let report = queue
        .redrive(
            &RedriveSelection::All,
            &Authenticity::in_process(),
            &publisher(&stage),
        )
        .await
        .unwrap();
    assert!(report.redriven.is_empty(), "{report:#?}");
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].reason.contains(&stage.bus_name()),
        "{}",
        report.failed[0].reason
    );
    let left = queue.list().await.unwrap().letters;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message_id, message_id);
    emulator.cleanup().await;
}

/// A redrive of more messages than one publish call takes: chunks go out one after the other
/// (their PutEvents requests concurrently), every message is settled once, two messages that
/// carry the same event are both redriven, and an unreadable one among them is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_all_of_many_messages_goes_in_chunks_and_settles_each_once() {
    const MESSAGES: usize = 1_003;
    let sdk = alchemiser_aws::load_sdk_config().await;
    let mut emulator = Emulator::with_sdk(&sdk);
    let sqs = emulator.sqs.clone();
    let stage = unique_stage("dqm");
    let bus = stage.bus_name();
    emulator.bus(&bus).await;
    let (target_url, target_arn) = emulator.queue(&format!("ops-many-{stage}")).await;
    emulator
        .rule_to_queue(
            &bus,
            &format!("ops-many-{stage}"),
            EVERY_ALCHEMISER_SOURCE,
            &target_arn,
        )
        .await;
    let (dlq_url, _) = emulator.queue(&stage.dlq_name()).await;

    let twice = sample_event(EventType::SignalGenerated);
    let mut bodies: Vec<String> = (0..MESSAGES - 3)
        .map(|i| envelope(&sample_event(EventType::ALL[i % EventType::ALL.len()])).to_string())
        .collect();
    bodies.push(envelope(&twice).to_string());
    bodies.push(envelope(&twice).to_string());
    bodies.push("not an event".to_owned());
    for chunk in bodies.chunks(10) {
        let mut batch = sqs.send_message_batch().queue_url(&dlq_url);
        for (i, body) in chunk.iter().enumerate() {
            batch = batch.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .message_attributes("ERROR_CODE", text("SDK_CLIENT_ERROR"))
                    .build()
                    .unwrap(),
            );
        }
        batch.send().await.unwrap();
    }

    let queue = DeadLetterQueue::new(sqs.clone(), &dlq_url).with_max_messages(5_000);
    let publisher = publisher(&stage);
    let steps = std::sync::Mutex::new(Vec::new());
    let report = queue
        .redrive_reporting(
            &RedriveSelection::All,
            &Authenticity::in_process(),
            &publisher,
            |settled, total| {
                steps.lock().unwrap().push((settled, total));
            },
        )
        .await
        .unwrap();
    assert_eq!(report.redriven.len(), MESSAGES - 1, "{:?}", report.failed);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert!(report.failed[0].reason.contains("not redriven"));
    let sendable = MESSAGES - 1;
    assert_eq!(
        steps.into_inner().unwrap(),
        vec![(500, sendable), (1_000, sendable), (sendable, sendable)]
    );
    let mut messages: HashMap<String, usize> = HashMap::new();
    for item in &report.redriven {
        *messages.entry(item.message_id.clone()).or_default() += 1;
    }
    assert!(
        messages.values().all(|&n| n == 1),
        "a message settled twice"
    );
    assert_eq!(
        report
            .redriven
            .iter()
            .filter(|r| r.event_id == twice.event_id())
            .count(),
        2
    );
    assert!(publisher.stats().requests >= (sendable / 10) as u64);
    // Counted, not received one by one: every redriven event reaches the rule's queue.
    let started = std::time::Instant::now();
    let mut arrived = 0;
    while arrived < sendable && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&target_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        arrived = attributes
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
    }
    assert_eq!(arrived, sendable);
    let left = queue.list().await.unwrap().letters;
    assert_eq!(left.len(), 1, "only the unreadable message is left");
    emulator.cleanup().await;
}

fn receive_counts(stage: &Stage) -> HashMap<String, u64> {
    let (stdout, stderr, code) = cli(&["dlq", "list", "--stage", stage.as_str(), "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    stdout
        .lines()
        .map(|line| {
            let letter: Value = serde_json::from_str(line).unwrap();
            (
                letter["message_id"].as_str().unwrap().to_owned(),
                letter["receive_count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// An invalid event that can never be redriven: shown as JSON, deleted with a reason noted in its
/// workflow's ledger; a look counts one receive per message and says so; an unknown id names the
/// command with its --stage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_dead_letter_is_shown_and_deleted_with_its_reason_noted() {
    use alchemiser_ledger::{summarize, DynamoDbLedger, Entry, EventEntry, LedgerStore};
    let sdk = alchemiser_aws::load_sdk_config().await;
    let mut emulator = Emulator::with_sdk(&sdk);
    let sqs = emulator.sqs.clone();
    let stage = unique_stage("dqdel");
    let (dlq_url, _) = emulator.queue(&stage.dlq_name()).await;
    // Its workflow is in the stage's ledger (LocalStack's DynamoDB is moto's).
    let started = sample_event(EventType::WorkflowStarted);
    let workflow = started.header().correlation_id.clone();
    let ledger = DynamoDbLedger::new(
        emulator.dynamodb.clone(),
        stage.ledger_table_name(),
        Duration::from_secs(3600),
    );
    ledger.create_table().await.unwrap();
    emulator.adopt_table(&stage.ledger_table_name());
    ledger
        .record(
            &workflow,
            &Entry::Event(EventEntry::of(&started, None, chrono::Utc::now())),
        )
        .await
        .unwrap();
    let mut invalid = sample_event(EventType::SignalGenerated).to_value();
    invalid["correlation_id"] = json!(workflow);
    invalid["consolidated_portfolio"]["target_allocations"] = json!({"SPY": "0.6", "TLT": "0.3"});
    let record = FailureRecord {
        function: "portfolio".into(),
        reason: "field `consolidated_portfolio.target_allocations`: must sum to 1".into(),
        error_class: "permanent".into(),
        event_id: invalid["event_id"].as_str().map(str::to_owned),
        detail_type: Some("SignalGenerated".into()),
        correlation_id: Some(workflow.clone()),
        failed_at: chrono::Utc::now(),
        event: invalid,
    };
    let invalid_id = send(&sqs, &dlq_url, serde_json::to_string(&record).unwrap(), &[]).await;
    let other = send(
        &sqs,
        &dlq_url,
        envelope(&sample_event(EventType::TradeExecuted)).to_string(),
        &[("ERROR_CODE", "SDK_CLIENT_ERROR")],
    )
    .await;

    // A look receives each message once, and says so.
    let before = receive_counts(&stage);
    let after = receive_counts(&stage);
    assert_eq!(before.len(), 2);
    for (id, count) in &after {
        assert_eq!(*count, before[id] + 1, "one receive per look for {id}");
    }
    let (_, stderr, _) = cli(&["dlq", "list", "--stage", stage.as_str()]);
    assert!(stderr.contains("receive count rose by one"), "{stderr}");

    // show --json: the whole message, and why it cannot be redriven.
    let (stdout, stderr, code) = cli(&[
        "dlq",
        "show",
        &invalid_id,
        "--stage",
        stage.as_str(),
        "--json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["message_id"], invalid_id.as_str());
    assert_eq!(shown["kind"], "function-failure");
    assert_eq!(shown["redrivable"], false);
    assert!(
        shown["not_redrivable"]
            .as_str()
            .unwrap()
            .contains("must sum to 1"),
        "{stdout}"
    );
    // An unknown id: the command that lists the queue, with its --stage.
    let (_, stderr, code) = cli(&["dlq", "show", "no-such-id", "--stage", stage.as_str()]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!("alchemiser dlq list --stage {stage}")),
        "{stderr}"
    );

    // delete: a reason is required; with one, the message goes and its workflow says why.
    let (_, _, code) = cli(&["dlq", "delete", &invalid_id, "--stage", stage.as_str()]);
    assert_eq!(code, Some(2), "no --reason");
    let (stdout, stderr, code) = cli(&[
        "dlq",
        "delete",
        &invalid_id,
        "--stage",
        stage.as_str(),
        "--reason",
        "weights of the old strategy build; fixed in the producer, never redrivable",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!("noted in the ledger of workflow {workflow}")),
        "{stdout}"
    );
    assert!(stderr.contains("dead letter deleted"), "logged: {stderr}");
    let left: Vec<String> = queue_ids(&sdk, &dlq_url).await;
    assert_eq!(left, [other], "only the invalid one deleted");
    let entries = ledger.entries(&workflow).await.unwrap();
    let deletion = entries
        .iter()
        .find_map(|e| match e {
            Entry::DeadLetterDeleted(d) => Some(d),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no deletion note: {entries:?}"));
    assert_eq!(deletion.message_id, invalid_id);
    assert!(deletion.reason.contains("never redrivable"));
    assert!(
        deletion.deleted_by.starts_with("arn:"),
        "{}",
        deletion.deleted_by
    );
    assert!(summarize(&workflow, &entries).is_some());
    emulator.cleanup().await;
}

async fn queue_ids(sdk: &aws_config::SdkConfig, url: &str) -> Vec<String> {
    DeadLetterQueue::new(aws_sdk_sqs::Client::new(sdk), url)
        .list()
        .await
        .unwrap()
        .letters
        .into_iter()
        .map(|l| l.message_id)
        .collect()
}
