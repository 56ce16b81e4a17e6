//! `alchemiser dlq list|show ID|redrive [--all | ID...] --stage S [--queue-url URL]`: read and
//! redrive the stage's dead-letter queue (the work is in `alchemiser-operations`).

use std::process::ExitCode;

use alchemiser_eventbridge::EventBridgePublisher;
use alchemiser_operations::{
    format_age, redrive_publisher_config, DeadLetter, DeadLetterQueue, RedriveSelection, Stage,
};

/// Arguments of `dlq`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DlqCommand {
    /// List the dead letters (left in the queue): kind, event type and ids, age, reason.
    List {
        #[command(flatten)]
        queue: QueueArgs,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter in full (left in the queue).
    Show {
        /// Its MessageId (from `dlq list`).
        id: String,
        #[command(flatten)]
        queue: QueueArgs,
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
    async fn open(self) -> anyhow::Result<(Stage, DeadLetterQueue)> {
        let stage: Stage = self.stage.parse()?;
        let sdk = super::aws_config().await?;
        let queue = DeadLetterQueue::for_stage(&sdk, &stage, self.queue_url)
            .await
            .map_err(|e| super::aws_failure(&e, &stage, "dead-letter queue"))?;
        Ok((stage, queue))
    }
}

fn or_dash(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("-")
}

fn print_row(letter: &DeadLetter, now: chrono::DateTime<chrono::Utc>) {
    println!(
        "{:<36}  {:<17}  {:<17}  {:<36}  {:<36}  {:>6}  {}",
        letter.message_id,
        letter.kind.to_string(),
        or_dash(&letter.detail_type),
        or_dash(&letter.event_id),
        or_dash(&letter.correlation_id),
        format_age(letter.age(now)),
        letter.reason
    );
}

/// Runs the `dlq` subcommand.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    match args.command {
        DlqCommand::List { queue, json } => {
            let (_, queue) = queue.open().await?;
            let listing = queue.list().await?;
            let letters = listing.letters;
            if json {
                for letter in &letters {
                    println!("{}", serde_json::to_string(letter)?);
                }
            } else {
                println!(
                    "{:<36}  {:<17}  {:<17}  {:<36}  {:<36}  {:>6}  REASON",
                    "MESSAGE_ID", "KIND", "TYPE", "EVENT_ID", "CORRELATION_ID", "AGE"
                );
                for letter in &letters {
                    print_row(letter, now);
                }
                eprintln!("{} message(s) in {}", letters.len(), queue.url());
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show { id, queue } => {
            let (_, queue) = queue.open().await?;
            let letter = queue.show(&id).await?;
            println!("message_id:     {}", letter.message_id);
            println!("kind:           {}", letter.kind);
            println!("type:           {}", or_dash(&letter.detail_type));
            println!("event_id:       {}", or_dash(&letter.event_id));
            println!("correlation_id: {}", or_dash(&letter.correlation_id));
            println!("origin:         {}", or_dash(&letter.origin));
            let sent = letter.sent_at.map(|t| t.to_rfc3339()).unwrap_or_default();
            println!(
                "sent_at:        {sent} (age {})",
                format_age(letter.age(now))
            );
            println!("receive_count:  {}", letter.receive_count.unwrap_or(0));
            println!("reason:         {}", letter.reason);
            match letter.original_event() {
                Ok(_) => println!("redrivable:     yes"),
                Err(why) => println!("redrivable:     no: {why}"),
            }
            for (key, value) in &letter.attributes {
                println!("attribute:      {key}={value}");
            }
            let body = serde_json::from_str::<serde_json::Value>(&letter.body)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| letter.body.clone());
            println!("body:\n{body}");
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Redrive { ids, all, queue } => {
            let (stage, queue) = queue.open().await?;
            let selection = if all {
                RedriveSelection::All
            } else {
                RedriveSelection::Ids(ids)
            };
            let config = redrive_publisher_config(&stage)?;
            let outbox = config.outbox.clone();
            let publisher = EventBridgePublisher::new(config);
            let progress = std::cell::RefCell::new(None::<indicatif::ProgressBar>);
            let report = queue
                .redrive_reporting(&selection, &publisher, |settled, total| {
                    let mut bar = progress.borrow_mut();
                    let bar =
                        bar.get_or_insert_with(|| super::progress_bar(total, 1_000, "messages"));
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
                    item.message_id, item.event_type, item.event_id
                );
            }
            for item in &report.failed {
                println!("kept {}: {}", item.message_id, item.reason);
            }
            for id in &report.not_found {
                println!("not found {id}: not in the queue (run `alchemiser dlq list`)");
            }
            println!(
                "redriven={} kept={} not_found={} to bus {}",
                report.redriven.len(),
                report.failed.len(),
                report.not_found.len(),
                publisher.config().bus_name
            );
            Ok(if report.is_complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
