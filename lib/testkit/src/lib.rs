//! Fixtures for the tests that run against the emulators (LocalStack, moto), so each test says
//! what it checks rather than how to set up a bus: [`Emulator`] creates uniquely named buses,
//! rules, queues and tables, receives what arrives, and deletes everything it made in
//! [`Emulator::cleanup`].
//!
//! [`workflow_events`] gives a whole workflow's events for the ledger's and the CLI's tests.
//!
//! The endpoint comes from `AWS_ENDPOINT_URL` (the `scripts/test-*` runners set it after starting
//! the emulator); credentials and region from the usual variables.

mod workflow;

pub use workflow::{workflow_events, workflow_failed};

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

/// The event pattern that matches every event this project publishes.
pub const EVERY_ALCHEMISER_SOURCE: &str = r#"{"source":[{"prefix":"alchemiser."}]}"#;

/// `prefix` followed by ten random characters: a name no other test run uses.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..10])
}

/// The AWS configuration of the emulator at `AWS_ENDPOINT_URL`.
pub async fn emulator_sdk() -> SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "set AWS_ENDPOINT_URL: run this test through its scripts/test-* runner, which starts the emulator"
    );
    sdk_at(None).await
}

/// The AWS configuration of the emulator at `endpoint` (or `AWS_ENDPOINT_URL` when `None`), with
/// the emulators' dummy credentials when none are set.
pub async fn sdk_at(endpoint: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if std::env::var("AWS_REGION").is_err() {
        loader = loader.region(Region::new("us-east-1"));
    }
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "testkit",
        ));
    }
    alchemiser_aws::load_with(loader, alchemiser_aws::ClientSettings::default()).await
}

/// What a test made on the emulator, deleted again by [`Emulator::cleanup`].
pub struct Emulator {
    /// EventBridge client.
    pub events: aws_sdk_eventbridge::Client,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB client.
    pub dynamodb: aws_sdk_dynamodb::Client,
    buses: Vec<String>,
    rules: Vec<(String, String)>,
    queues: Vec<String>,
    tables: Vec<String>,
}

impl Emulator {
    /// Clients for the emulator at `AWS_ENDPOINT_URL`.
    pub async fn new() -> Self {
        Self::with_sdk(&emulator_sdk().await)
    }

    /// Clients from `sdk`.
    pub fn with_sdk(sdk: &SdkConfig) -> Self {
        Self {
            events: aws_sdk_eventbridge::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            buses: Vec::new(),
            rules: Vec::new(),
            queues: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// Creates the event bus `name`.
    pub async fn bus(&mut self, name: &str) {
        self.events
            .create_event_bus()
            .name(name)
            .send()
            .await
            .expect("CreateEventBus");
        self.buses.push(name.to_owned());
    }

    /// Creates a queue that EventBridge may send to; returns its URL and ARN.
    pub async fn queue(&mut self, name: &str) -> (String, String) {
        let url = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("queue url");
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("queue arn");
        self.queues.push(url.clone());
        (url, arn)
    }

    /// A rule on `bus` with `pattern` and the queue `queue_arn` as its one target.
    pub async fn rule_to_queue(&mut self, bus: &str, rule: &str, pattern: &str, queue_arn: &str) {
        self.events
            .put_rule()
            .name(rule)
            .event_bus_name(bus)
            .event_pattern(pattern)
            .send()
            .await
            .expect("PutRule");
        self.events
            .put_targets()
            .rule(rule)
            .event_bus_name(bus)
            .targets(
                Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("PutTargets");
        self.rules.push((bus.to_owned(), rule.to_owned()));
    }

    /// A table keyed by the string attribute `pk`, as the stack's idempotency table.
    pub async fn table(&mut self, name: &str) {
        let string = |attribute: &str| {
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute")
        };
        self.dynamodb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string("pk"))
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("key"),
            )
            .send()
            .await
            .expect("CreateTable");
        self.tables.push(name.to_owned());
    }

    /// A table made by someone else (an adapter's own `create_table`), deleted in cleanup.
    pub fn adopt_table(&mut self, name: &str) {
        self.tables.push(name.to_owned());
    }

    /// Receives (and deletes) messages from `queue_url` until `want` bodies arrived or `within`
    /// passed; each body parsed as JSON.
    pub async fn receive(&self, queue_url: &str, want: usize, within: Duration) -> Vec<Value> {
        let mut bodies = Vec::new();
        let started = Instant::now();
        while bodies.len() < want && started.elapsed() < within {
            let output = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("ReceiveMessage");
            for message in output.messages() {
                bodies.push(
                    serde_json::from_str(message.body().unwrap_or_default())
                        .expect("the SQS body is JSON"),
                );
                if let Some(receipt) = message.receipt_handle() {
                    let _ = self
                        .sqs
                        .delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(receipt)
                        .send()
                        .await;
                }
            }
        }
        bodies
    }

    /// Deletes everything this fixture created (errors ignored: the emulator is thrown away).
    pub async fn cleanup(self) {
        for (bus, rule) in &self.rules {
            let _ = self
                .events
                .remove_targets()
                .rule(rule)
                .event_bus_name(bus)
                .ids("queue")
                .send()
                .await;
            let _ = self
                .events
                .delete_rule()
                .name(rule)
                .event_bus_name(bus)
                .send()
                .await;
        }
        for bus in &self.buses {
            let _ = self.events.delete_event_bus().name(bus).send().await;
        }
        for queue in &self.queues {
            let _ = self.sqs.delete_queue().queue_url(queue).send().await;
        }
        for table in &self.tables {
            let _ = self.dynamodb.delete_table().table_name(table).send().await;
        }
    }
}
