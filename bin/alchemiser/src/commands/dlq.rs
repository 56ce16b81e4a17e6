//! `alchemiser dlq list|show ID|redrive [--all | ID...]|delete ID --reason TEXT --stage S
//! [--queue-url URL]`: read, redrive and delete the stage's dead letters (the work is in
//! `alchemiser-operations`). Everything a message carries is shown through `printable`: its
//! ids, reasons and body were written by whoever sent the event.

use std::process::ExitCode;
use std::sync::Arc;

use alchemiser_eventbridge::EventBridgePublisher;
use alchemiser_events::text::printable;
use alchemiser_ledger::model::DeadLetterDeletion;
use alchemiser_ledger::{DynamoDbLedger, Entry, LedgerStore};
use alchemiser_operations::{
    caller_identity, format_age, redrive_publisher_config, DeadLetter, DeadLetterQueue,
    RedriveSelection, Stage,
};
use serde_json::Value;

/// Arguments of `dlq`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DlqCommand {
    /// List the dead letters (left in the queue): kind, event type and ids, age, reason. Reading
    /// receives each message once: its receive count rises by one, and other readers do not see
    /// it until the listing gives it back (at once, or within 90 s should the listing die).
    List {
        #[command(flatten)]
        queue: QueueArgs,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter in full (left in the queue; its receive count rises by one).
    Show {
        /// Its MessageId (from `dlq list`).
        id: String,
        #[command(flatten)]
        queue: QueueArgs,
        /// The message as one JSON object (with `redrivable`, and why not).
        #[arg(long)]
        json: bool,
    },
    /// Republish the original events to the stage's bus; delete each message once delivered.
    Redrive {
        /// MessageIds to redrive (from `dlq list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<String>,
        /// Redrive every message.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        queue: QueueArgs,
    },
    /// Delete one dead letter for good (an event that can never be redriven), saying why: the
    /// deletion is noted in its workflow's ledger (who, when, why) and logged.
    Delete {
        /// Its MessageId (from `dlq list`).
        id: String,
        /// Why it is deleted, in a few words (kept in the ledger and the log).
        #[arg(long, value_parser = non_empty_reason)]
        reason: String,
        #[command(flatten)]
        queue: QueueArgs,
        /// The ledger table to note it in (default alchemiser-workflow-ledger-STAGE).
        #[arg(long, value_name = "NAME")]
        table: Option<String>,
    },
}

/// Which queue.
#[derive(Debug, clap::Args)]
struct QueueArgs {
    /// The stage (queue from SSM /alchemiser/STAGE/dlq-url, else alchemiser-event-dlq-STAGE).
    #[arg(long)]
    stage: String,
    /// Use this queue instead.
    #[arg(long, value_name = "URL")]
    queue_url: Option<String>,
}

impl QueueArgs {
    async fn open(self) -> anyhow::Result<(Stage, aws_config::SdkConfig, DeadLetterQueue)> {
        let stage: Stage = self.stage.parse()?;
        let sdk = super::aws_config().await?;
        let queue = DeadLetterQueue::for_stage(&sdk, &stage, self.queue_url)
            .await
            .map_err(|e| super::aws_failure(&e, &stage, "dead-letter queue"))?;
        Ok((stage, sdk, queue))
    }
}

fn non_empty_reason(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("say why the message is deleted (it is kept in the ledger and the log)".into());
    }
    Ok(text.trim().to_owned())
}

/// A field as text a terminal shows as it is (or `-`).
fn shown(value: &Option<String>) -> String {
    value
        .as_deref()
        .map_or_else(|| "-".to_owned(), |v| printable(v).into_owned())
}

fn print_row(letter: &DeadLetter, now: chrono::DateTime<chrono::Utc>) {
    println!(
        "{:<36}  {:<17}  {:<17}  {:<36}  {:<36}  {:>6}  {}",
        printable(&letter.message_id),
        letter.kind.to_string(),
        shown(&letter.detail_type),
        shown(&letter.event_id),
        shown(&letter.correlation_id),
        format_age(letter.age(now)),
        printable(&letter.reason)
    );
}

/// The letter as JSON, with whether it can be redriven (and why not).
fn letter_json(letter: &DeadLetter) -> anyhow::Result<Value> {
    let mut value = serde_json::to_value(letter)?;
    if let Value::Object(object) = &mut value {
        let redrivable = letter.original_event();
        object.insert("redrivable".into(), redrivable.is_ok().into());
        if let Err(why) = redrivable {
            object.insert(
                "not_redrivable".into(),
                alchemiser_bus::error_chain(&why).into(),
            );
        }
    }
    Ok(value)
}

fn print_letter(letter: &DeadLetter, now: chrono::DateTime<chrono::Utc>) {
    println!("message_id:     {}", printable(&letter.message_id));
    println!("kind:           {}", letter.kind);
    println!("type:           {}", shown(&letter.detail_type));
    println!("event_id:       {}", shown(&letter.event_id));
    println!("correlation_id: {}", shown(&letter.correlation_id));
    println!("origin:         {}", shown(&letter.origin));
    let sent = letter.sent_at.map(|t| t.to_rfc3339()).unwrap_or_default();
    println!(
        "sent_at:        {sent} (age {})",
        format_age(letter.age(now))
    );
    println!(
        "receive_count:  {} (this look included: SQS counts every receive)",
        letter.receive_count.unwrap_or(0)
    );
    println!("reason:         {}", printable(&letter.reason));
    match letter.original_event() {
        Ok(_) => println!("redrivable:     yes"),
        Err(why) => println!(
            "redrivable:     no: {}",
            printable(&alchemiser_bus::error_chain(&why))
        ),
    }
    for (key, value) in &letter.attributes {
        println!("attribute:      {}={}", printable(key), printable(value));
    }
    // Pretty JSON escapes every control character of its strings; a body that is not JSON is
    // shown as text.
    let body = serde_json::from_str::<Value>(&letter.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| printable(&letter.body).into_owned());
    println!("body:\n{body}");
}

/// Runs the `dlq` subcommand.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    match args.command {
        DlqCommand::List { queue, json } => {
            let (_, _, queue) = queue.open().await?;
            let listing = queue.list().await?;
            if json {
                for letter in &listing.letters {
                    println!("{}", serde_json::to_string(letter)?);
                }
            } else {
                println!(
                    "{:<36}  {:<17}  {:<17}  {:<36}  {:<36}  {:>6}  REASON",
                    "MESSAGE_ID", "KIND", "TYPE", "EVENT_ID", "CORRELATION_ID", "AGE"
                );
                for letter in &listing.letters {
                    print_row(letter, now);
                }
            }
            eprintln!(
                "{} message(s) in {}{}; reading them received each once (its receive count rose by one; hidden from other readers only while this listing read, given back since)",
                listing.letters.len(),
                queue.url(),
                if listing.complete {
                    String::new()
                } else {
                    format!(
                        " — not the whole queue: a listing reads for a minute and {} messages at most",
                        listing.letters.len()
                    )
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show { id, queue, json } => {
            let (_, _, queue) = queue.open().await?;
            let letter = queue.show(&id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letter_json(&letter)?)?);
            } else {
                print_letter(&letter, now);
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Redrive { ids, all, queue } => {
            let (stage, sdk, queue) = queue.open().await?;
            redrive(&sdk, &stage, &queue, all, ids).await
        }
        DlqCommand::Delete {
            id,
            reason,
            queue,
            table,
        } => {
            let (stage, sdk, queue) = queue.open().await?;
            let table = table.unwrap_or_else(|| stage.ledger_table_name());
            let ledger = DynamoDbLedger::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                table,
                std::time::Duration::from_secs(alchemiser_ledger::DEFAULT_RETENTION_DAYS * 86_400),
            );
            delete(&sdk, &stage, &queue, Arc::new(ledger), &id, &reason).await
        }
    }
}

async fn redrive(
    sdk: &aws_config::SdkConfig,
    stage: &Stage,
    queue: &DeadLetterQueue,
    all: bool,
    ids: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let selection = if all {
        RedriveSelection::All
    } else {
        RedriveSelection::Ids(ids)
    };
    // What the stage's functions accept: nothing they would refuse is republished.
    let authenticity = alchemiser_operations::stage_authenticity(sdk, stage).await?;
    let config = redrive_publisher_config(stage)?;
    let outbox = config.outbox.clone();
    let publisher = EventBridgePublisher::new(config);
    let progress = std::cell::RefCell::new(None::<indicatif::ProgressBar>);
    let report = queue
        .redrive_reporting(&selection, &authenticity, &publisher, |settled, total| {
            let mut bar = progress.borrow_mut();
            let bar = bar.get_or_insert_with(|| super::progress_bar(total, 1_000, "messages"));
            bar.set_position(settled as u64);
        })
        .await;
    if let Some(bar) = progress.into_inner() {
        bar.finish_and_clear();
    }
    if let alchemiser_eventbridge::OutboxConfig::File(path) = outbox {
        // The DLQ keeps what was not delivered; this run's outbox copy is not needed.
        let _ = std::fs::remove_file(path);
    }
    let report = report?;
    for item in &report.redriven {
        println!(
            "redriven {} {} {} (deleted from the queue)",
            printable(&item.message_id),
            item.event_type,
            printable(&item.event_id)
        );
    }
    for item in &report.failed {
        println!(
            "kept {}: {}",
            printable(&item.message_id),
            printable(&item.reason)
        );
    }
    for item in &report.refused {
        println!(
            "refused {}: {}",
            printable(&item.message_id),
            printable(&item.reason)
        );
    }
    for id in &report.not_found {
        println!(
            "not found {}: not in the queue (run `{}`)",
            printable(id),
            queue.list_command()
        );
    }
    println!(
        "redriven={} kept={} refused={} not_found={} to bus {}",
        report.redriven.len(),
        report.failed.len(),
        report.refused.len(),
        report.not_found.len(),
        publisher.config().bus_name
    );
    Ok(if report.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Deletes one dead letter: holds it, notes the deletion in its workflow's ledger (when the
/// ledger knows the workflow) and logs it, then deletes it. A failed note gives the message
/// back: nothing is deleted without its record.
async fn delete(
    sdk: &aws_config::SdkConfig,
    stage: &Stage,
    queue: &DeadLetterQueue,
    ledger: Arc<dyn LedgerStore>,
    id: &str,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    let held = queue.hold(id).await?;
    let letter = held.letter().clone();
    let noted = async {
        let by = caller_identity(sdk).await?;
        let Some(workflow) = letter.correlation_id.as_deref() else {
            return Ok::<_, anyhow::Error>((by, None));
        };
        let known = !ledger
            .entries(workflow)
            .await
            .map_err(|e| super::aws_failure(&e, stage, "workflow ledger table"))?
            .is_empty();
        if !known {
            return Ok((by, None));
        }
        let deletion = Entry::DeadLetterDeleted(DeadLetterDeletion {
            message_id: letter.message_id.clone(),
            event_id: letter.event_id.clone(),
            event_type: letter.detail_type.clone(),
            letter_reason: letter.reason.clone(),
            deleted_at: chrono::Utc::now(),
            deleted_by: by.clone(),
            reason: reason.to_owned(),
        });
        ledger
            .record(workflow, &deletion)
            .await
            .map_err(|e| super::aws_failure(&e, stage, "workflow ledger table"))?;
        Ok((by, Some(workflow.to_owned())))
    }
    .await;
    let (by, workflow) = match noted {
        Ok(noted) => noted,
        Err(error) => {
            held.release().await;
            return Err(error.context("not deleted: the deletion could not be recorded"));
        }
    };
    tracing::warn!(
        message_id = %printable(&letter.message_id),
        kind = %letter.kind,
        event_type = %shown(&letter.detail_type),
        event_id = %shown(&letter.event_id),
        correlation_id = %shown(&letter.correlation_id),
        deleted_by = %printable(&by),
        reason = %printable(reason),
        stage = %stage,
        "dead letter deleted"
    );
    held.delete().await?;
    println!(
        "deleted {} ({}, {} {}): {}",
        printable(&letter.message_id),
        letter.kind,
        shown(&letter.detail_type),
        shown(&letter.event_id),
        printable(reason)
    );
    match workflow {
        Some(workflow) => println!(
            "noted in the ledger of workflow {} as deleted by {}",
            printable(&workflow),
            printable(&by)
        ),
        None => println!(
            "the ledger has no workflow {}: the log line above is its only record",
            shown(&letter.correlation_id)
        ),
    }
    Ok(ExitCode::SUCCESS)
}
