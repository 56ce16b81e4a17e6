//! Helpers shared by the emulator tests of this crate.

use alchemiser_operations::Stage;
use serde_json::Value;

/// A stage name no other test run uses: `prefix` plus ten random characters.
pub fn unique_stage(prefix: &str) -> Stage {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..10]).parse().unwrap()
}

/// Receives (and deletes) messages from `url` until `want` bodies arrived or ~20 s passed.
pub async fn receive_and_delete(sqs: &aws_sdk_sqs::Client, url: &str, want: usize) -> Vec<Value> {
    let mut bodies = Vec::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in out.messages.unwrap_or_default() {
            bodies.push(serde_json::from_str(message.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        if bodies.len() >= want {
            break;
        }
    }
    bodies
}

/// A rule on `bus` matching every `alchemiser.*` source, with the queue `queue_arn` as target.
pub async fn route_everything_to_queue(
    events: &aws_sdk_eventbridge::Client,
    bus: &str,
    rule: &str,
    queue_arn: &str,
) {
    events
        .put_rule()
        .name(rule)
        .event_bus_name(bus)
        .event_pattern(r#"{"source":[{"prefix":"alchemiser."}]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(rule)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}
