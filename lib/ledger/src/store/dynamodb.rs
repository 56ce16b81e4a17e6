//! The ledger on DynamoDB. One item per entry and one summary item per workflow, all under the
//! workflow's correlation id:
//!
//! - `pk` (S) = correlation id, `sk` (S) = the entry's key (`event#<id>`, `dlq#<message id>`,
//!   `timeout`, `shadow#<handler>#<event id>`) or `summary`;
//! - `entry` / `summary` (S): the JSON; `expires_at` (N): the table's TTL attribute;
//! - summaries also carry `state` (S), `entries` (N) and, for the `by_start` index,
//!   `gsi1pk` = `workflow` and `gsi1sk` = the start time (RFC 3339, UTC): listing by time is one
//!   Query; an open workflow's summary also carries `gsi2pk` = `open` and `gsi2sk` = the start
//!   time, for the sparse `open_by_start` index the sweep reads (a summary written once the
//!   workflow has ended leaves them out, and so leaves the index).
//!
//! An entry is written only if its key is new (`attribute_not_exists`), a summary only if it
//! counts more entries than the stored one: duplicates change nothing, and of two concurrent
//! writers the one that saw more entries wins.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};

use super::query::{Cursor, Page, Position, WorkflowQuery, MAX_PAGE};
use super::{LedgerError, LedgerStore};
use crate::model::{Entry, Summary};

/// The index that lists workflows by start time.
pub const BY_START_INDEX: &str = "by_start";
/// The sparse index of the open workflows (only their summaries carry `gsi2pk`), by start time.
pub const OPEN_BY_START_INDEX: &str = "open_by_start";
const SUMMARY_KEY: &str = "summary";
const INDEX_PARTITION: &str = "workflow";
const OPEN_PARTITION: &str = "open";
/// Entries bigger than this lose their `detail` (DynamoDB items are at most 400 KB).
const MAX_ENTRY_BYTES: usize = 300 * 1024;

/// The ledger table.
#[derive(Debug, Clone)]
pub struct DynamoDbLedger {
    client: Client,
    table: String,
    retention: Duration,
}

type Item = HashMap<String, AttributeValue>;

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl DynamoDbLedger {
    /// The ledger in `table`, whose items expire `retention` after they are written.
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
        }
    }

    /// Creates the ledger table as the stack defines it (pk/sk, the `by_start` and sparse
    /// `open_by_start` indexes), for tests
    /// and local runs; deployed stages get it from the CDK app.
    pub async fn create_table(&self) -> Result<(), LedgerError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
            Projection, ProjectionType, ScalarAttributeType,
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let build = |e: aws_sdk_dynamodb::error::BuildError| self.error("describing the table", e);
        let index = |name: &str, partition: &str, sort: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(partition, KeyType::Hash).map_err(build)?)
                .key_schema(key(sort, KeyType::Range).map_err(build)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build)
        };
        let by_start = index(BY_START_INDEX, "gsi1pk", "gsi1sk")?;
        let open = index(OPEN_BY_START_INDEX, "gsi2pk", "gsi2sk")?;
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk").map_err(build)?)
            .attribute_definitions(attribute("sk").map_err(build)?)
            .attribute_definitions(attribute("gsi1pk").map_err(build)?)
            .attribute_definitions(attribute("gsi1sk").map_err(build)?)
            .attribute_definitions(attribute("gsi2pk").map_err(build)?)
            .attribute_definitions(attribute("gsi2sk").map_err(build)?)
            .key_schema(key("pk", KeyType::Hash).map_err(build)?)
            .key_schema(key("sk", KeyType::Range).map_err(build)?)
            .global_secondary_indexes(by_start)
            .global_secondary_indexes(open)
            .send()
            .await
            .map_err(|e| self.error("CreateTable", e.into_service_error()))?;
        Ok(())
    }

    fn error(
        &self,
        action: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> LedgerError {
        LedgerError::new(action, self.table.clone(), source)
    }

    /// A conditional PutItem: `Ok(true)` written, `Ok(false)` its condition did not hold.
    async fn put_if(
        &self,
        action: &'static str,
        request: aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
    ) -> Result<bool, LedgerError> {
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) => {
                let error = error.into_service_error();
                if error.is_conditional_check_failed_exception() {
                    Ok(false)
                } else {
                    Err(self.error(action, error))
                }
            }
        }
    }

    fn expires_at(&self) -> AttributeValue {
        let retention = chrono::TimeDelta::from_std(self.retention).unwrap_or_default();
        n((Utc::now() + retention).timestamp())
    }

    async fn query(
        &self,
        action: &'static str,
        mut request: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, LedgerError> {
        let mut items = Vec::new();
        loop {
            let output = request
                .clone()
                .send()
                .await
                .map_err(|e| self.error(action, e.into_service_error()))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => {
                    request = request.set_exclusive_start_key(Some(key));
                }
                _ => return Ok(items),
            }
        }
    }
}

/// One of the two start-time indexes: its name, key attributes and partition value.
struct StartIndex {
    name: &'static str,
    partition_key: &'static str,
    sort_key: &'static str,
    partition: &'static str,
    action: &'static str,
}

impl StartIndex {
    const ALL: StartIndex = StartIndex {
        name: BY_START_INDEX,
        partition_key: "gsi1pk",
        sort_key: "gsi1sk",
        partition: INDEX_PARTITION,
        action: "Query (by_start)",
    };
    const OPEN: StartIndex = StartIndex {
        name: OPEN_BY_START_INDEX,
        partition_key: "gsi2pk",
        sort_key: "gsi2sk",
        partition: OPEN_PARTITION,
        action: "Query (open_by_start)",
    };
}

impl DynamoDbLedger {
    /// The summaries in `index` of workflows started at or after `since`, oldest first.
    async fn by_start(
        &self,
        index: &StartIndex,
        since: DateTime<Utc>,
    ) -> Result<Vec<Summary>, LedgerError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.name)
            .key_condition_expression("#pk = :partition AND #sk >= :since")
            .expression_attribute_names("#pk", index.partition_key)
            .expression_attribute_names("#sk", index.sort_key)
            .expression_attribute_values(":partition", s(index.partition))
            .expression_attribute_values(":since", s(rfc3339(since)));
        let items = self.query(index.action, request).await?;
        Ok(items
            .iter()
            .filter_map(|item| json_of(item, "summary"))
            .collect())
    }
}

fn json_of<T: serde::de::DeserializeOwned>(item: &Item, attribute: &str) -> Option<T> {
    read_item(item, attribute, |text| serde_json::from_str(text))
}

/// The JSON text in `attribute` read with `read`; an item that no longer reads is logged and
/// left out rather than failing every read of its workflow.
fn read_item<T>(
    item: &Item,
    attribute: &str,
    read: impl FnOnce(&str) -> Result<T, serde_json::Error>,
) -> Option<T> {
    let text = item.get(attribute)?.as_s().ok()?;
    match read(text) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(%error, attribute, "a ledger item no longer reads; left out");
            None
        }
    }
}

#[async_trait]
impl LedgerStore for DynamoDbLedger {
    async fn record(&self, correlation_id: &str, entry: &Entry) -> Result<bool, LedgerError> {
        let mut text =
            serde_json::to_string(entry).map_err(|e| self.error("encoding an entry", e))?;
        if text.len() > MAX_ENTRY_BYTES {
            text = serde_json::to_string(&entry.slimmed(text.len()))
                .map_err(|e| self.error("encoding an entry", e))?;
        }
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(correlation_id))
            .item("sk", s(entry.key()))
            .item("entry", s(text))
            .item("expires_at", self.expires_at())
            .condition_expression("attribute_not_exists(pk)");
        self.put_if("PutItem (entry)", request).await
    }

    async fn entries(&self, correlation_id: &str) -> Result<Vec<Entry>, LedgerError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(correlation_id))
            .consistent_read(true);
        let items = self.query("Query (entries)", request).await?;
        Ok(items
            .iter()
            .filter(|item| {
                item.get("sk")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    != Some(SUMMARY_KEY)
            })
            .filter_map(|item| read_item(item, "entry", Entry::from_stored_json))
            .collect())
    }

    async fn put_summary(&self, summary: &Summary) -> Result<(), LedgerError> {
        let text =
            serde_json::to_string(summary).map_err(|e| self.error("encoding a summary", e))?;
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&summary.correlation_id))
            .item("sk", s(SUMMARY_KEY))
            .item("summary", s(text))
            .item("state", s(summary.state.as_str()))
            .item("entries", n(summary.entries))
            .item("gsi1pk", s(INDEX_PARTITION))
            .item("gsi1sk", s(rfc3339(summary.started_at)));
        if summary.is_open() {
            request = request
                .item("gsi2pk", s(OPEN_PARTITION))
                .item("gsi2sk", s(rfc3339(summary.started_at)));
        }
        // A summary of fewer entries than the stored one is older news: not written.
        let request = request
            .item("expires_at", self.expires_at())
            .condition_expression("attribute_not_exists(pk) OR entries < :entries")
            .expression_attribute_values(":entries", n(summary.entries));
        self.put_if("PutItem (summary)", request).await.map(|_| ())
    }

    async fn summary(&self, correlation_id: &str) -> Result<Option<Summary>, LedgerError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(correlation_id))
            .key("sk", s(SUMMARY_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem (summary)", e.into_service_error()))?;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| json_of(item, "summary")))
    }

    async fn summaries_since(&self, since: DateTime<Utc>) -> Result<Vec<Summary>, LedgerError> {
        self.by_start(&StartIndex::ALL, since).await
    }

    async fn open_since(&self, since: DateTime<Utc>) -> Result<Vec<Summary>, LedgerError> {
        self.by_start(&StartIndex::OPEN, since).await
    }

    /// One page through the `by_start` index, newest first from the cursor's item (its key is
    /// the query's exclusive start), the state filtered by DynamoDB: it reads until the page is
    /// full or the window ends, never the rest of the table.
    async fn workflows(&self, query: &WorkflowQuery) -> Result<Page<Summary>, LedgerError> {
        let limit = query.limit.clamp(1, MAX_PAGE);
        let index = StartIndex::ALL;
        // BETWEEN includes its end; sort keys are whole microseconds, so the last one before
        // the window's end is its end, exclusive.
        let last = query.started.to - chrono::TimeDelta::microseconds(1);
        if last < query.started.from {
            return Ok(Page::from_fetched(
                Vec::new(),
                &query.position,
                limit,
                Cursor::of_workflow,
            ));
        }
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.name)
            .key_condition_expression("#pk = :partition AND #sk BETWEEN :from AND :last")
            .expression_attribute_names("#pk", index.partition_key)
            .expression_attribute_names("#sk", index.sort_key)
            .expression_attribute_values(":partition", s(index.partition))
            .expression_attribute_values(":from", s(rfc3339(query.started.from)))
            .expression_attribute_values(":last", s(rfc3339(last)))
            .scan_index_forward(matches!(query.position, Position::Before(_)));
        if let Some(state) = query.state {
            request = request
                .filter_expression("#state = :state")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":state", s(state.as_str()));
        }
        let mut start = match &query.position {
            Position::Newest => None,
            Position::After(cursor) | Position::Before(cursor) => Some(HashMap::from([
                ("pk".to_owned(), s(&cursor.id)),
                ("sk".to_owned(), s(SUMMARY_KEY)),
                (index.partition_key.to_owned(), s(index.partition)),
                (index.sort_key.to_owned(), s(&cursor.at)),
            ])),
        };
        let mut fetched: Vec<Summary> = Vec::new();
        loop {
            // Without a filter every item read is listed: read just enough. With one, a
            // DynamoDB page of items is filtered down: read in larger steps.
            let wanted = limit + 1 - fetched.len();
            let step = if query.state.is_some() {
                wanted.max(100)
            } else {
                wanted
            };
            let output = request
                .clone()
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(step).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(|e| self.error(index.action, e.into_service_error()))?;
            fetched.extend(
                output
                    .items
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|item| json_of::<Summary>(item, "summary")),
            );
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() && fetched.len() <= limit => start = Some(key),
                _ => break,
            }
        }
        fetched.truncate(limit + 1);
        Ok(Page::from_fetched(
            fetched,
            &query.position,
            limit,
            Cursor::of_workflow,
        ))
    }
}
