//! The outbox: where events that could not be delivered wait for `alchemiser outbox drain`.
//!
//! A record is the event's wire JSON plus why and when it failed. The file outbox is append-only
//! JSON lines; a drain rewrites it atomically (temp file + rename) keeping only what is still
//! undelivered. Appends and drains from several processes are serialised by an advisory lock on
//! a sibling `<file>.lock` (never on the data file itself, which a drain replaces). The SQS
//! outbox sends one message per record; a drain deletes a message only after its event was
//! delivered.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alchemiser_events::{decode_value, Timestamp};

use crate::entry::Outgoing;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// How long a file-outbox operation waits for another process's lock before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// One event kept in an outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The event's wire JSON (the EventBridge `Detail`), as an object: exactly what would have
    /// been sent.
    pub event: Value,
    /// The `Source` a forwarded event kept; absent: its producer's, from the routing table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The bus it was meant for.
    pub bus_name: String,
    /// The last error code, when there was one (`ThrottlingException`, `MalformedDetail`,
    /// `EntryTooLarge`, `ResourceNotFoundException`, `ConnectionError`, ...).
    pub code: Option<String>,
    /// Why it was not delivered (the last failure).
    pub reason: String,
    /// When it first failed.
    pub first_failed_at: String,
    /// When it last failed.
    pub last_failed_at: String,
    /// Sends so far, over all publishes and drains.
    pub attempts: u32,
}

impl OutboxRecord {
    /// A record for an event that just failed.
    pub fn new(
        outgoing: &Outgoing,
        bus_name: &str,
        code: Option<String>,
        reason: String,
        attempts: u32,
    ) -> Self {
        let now = Timestamp::now().to_wire();
        let event = &outgoing.event;
        Self {
            event: outgoing.detail.clone(),
            source: outgoing.source.clone(),
            event_id: event.event_id().to_owned(),
            event_type: event.event_type().as_str().to_owned(),
            bus_name: bus_name.to_owned(),
            code,
            reason,
            first_failed_at: now.clone(),
            last_failed_at: now,
            attempts,
        }
    }

    /// The kept event, decoded and validated again, to send exactly as it was kept.
    pub fn decode_event(&self) -> Result<Outgoing, UndecodableRecord> {
        decode_value(self.event.clone())
            .map(|received| Outgoing {
                event: received.event,
                detail: received.detail,
                source: self.source.clone(),
            })
            .map_err(|source| UndecodableRecord {
                event_id: self.event_id.clone(),
                source,
            })
    }

    /// The record after another failed resend.
    pub fn failed_again(mut self, code: Option<String>, reason: String, sends: u32) -> Self {
        self.code = code;
        self.reason = reason;
        self.last_failed_at = Timestamp::now().to_wire();
        self.attempts = self.attempts.saturating_add(sends);
        self
    }

    /// One JSON line (no trailing newline).
    pub fn to_line(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_else(|error| {
            format!(
                r#"{{"event_id":"{}","serialise_error":"{error}"}}"#,
                self.event_id
            )
        })
    }
}

/// A kept event that no longer passes the contract (it is left in the outbox).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("outbox record of {event_id} no longer decodes; it is left in the outbox for a person to look at")]
pub struct UndecodableRecord {
    /// The kept event's id.
    pub event_id: String,
    /// Why it does not decode.
    #[source]
    pub source: alchemiser_events::ContractError,
}

/// An outbox operation that failed; the message says what to do about it.
#[derive(Debug, Error)]
pub enum OutboxError {
    /// The file could not be read or written.
    #[error("outbox file `{path}`: {action} failed: {source}; check the path and its permissions (EVENTBRIDGE_OUTBOX_PATH)")]
    Io {
        /// The outbox file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another process held the lock for too long.
    #[error("outbox file `{path}` is locked by another process (lock file `{path}.lock`) for more than {waited:?}; wait for its drain to finish and retry")]
    Locked {
        /// The outbox file.
        path: PathBuf,
        /// How long this process waited.
        waited: Duration,
    },
    /// An SQS call failed.
    #[error("outbox queue `{queue_url}`: {reason}; check EVENTBRIDGE_OUTBOX_QUEUE_URL, the queue and the role's sqs permissions")]
    Sqs {
        /// The queue.
        queue_url: String,
        /// What failed.
        reason: String,
    },
}

/// A line of a file outbox: a record, or text that is not one (kept as it is).
#[derive(Debug, Clone, PartialEq)]
pub enum OutboxLine {
    /// A parsed record (boxed: a record is much larger than an unreadable line).
    Record(Box<OutboxRecord>),
    /// A line that does not parse; a drain keeps it untouched.
    Unreadable(String),
}

/// An append-only JSON-lines outbox file.
#[derive(Debug, Clone)]
pub struct FileOutbox {
    path: PathBuf,
}

/// Holds the advisory lock of a file outbox until dropped.
#[derive(Debug)]
pub struct FileOutboxLock {
    _file: File,
}

impl FileOutbox {
    /// An outbox at `path` (created on first append, with its directory).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
        move |source| OutboxError::Io {
            path: self.path.clone(),
            action,
            source,
        }
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the advisory lock, waiting up to [`LOCK_WAIT`] (asynchronously) for other holders.
    pub async fn lock(&self) -> Result<FileOutboxLock, OutboxError> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(self.io("creating its directory"))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_path())
            .map_err(self.io("opening the lock file"))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileOutboxLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(OutboxError::Locked {
                        path: self.path.clone(),
                        waited: started.elapsed(),
                    })
                }
                Err(std::fs::TryLockError::Error(error)) => return Err(self.io("locking")(error)),
            }
        }
    }

    /// Appends records, one line each, in a single write, and syncs the file.
    pub async fn append(&self, records: &[OutboxRecord]) -> Result<(), OutboxError> {
        if records.is_empty() {
            return Ok(());
        }
        let _lock = self.lock().await?;
        let mut text = String::new();
        for record in records {
            text.push_str(&record.to_line());
            text.push('\n');
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(self.io("opening for append"))?;
        file.write_all(text.as_bytes())
            .map_err(self.io("appending"))?;
        file.sync_data().map_err(self.io("syncing"))
    }

    /// Reads every line (a missing file is an empty outbox). Call with the lock held when the
    /// result will be written back.
    pub fn read(&self) -> Result<Vec<OutboxLine>, OutboxError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(self.io("reading")(error)),
        };
        Ok(text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| match serde_json::from_str::<OutboxRecord>(line) {
                Ok(record) => OutboxLine::Record(Box::new(record)),
                Err(_) => OutboxLine::Unreadable(line.to_owned()),
            })
            .collect())
    }

    /// Replaces the file's content atomically (temp file in the same directory, sync, rename).
    /// Call with the lock held.
    pub fn rewrite(&self, lines: &[OutboxLine]) -> Result<(), OutboxError> {
        let mut text = String::new();
        for line in lines {
            match line {
                OutboxLine::Record(record) => text.push_str(&record.to_line()),
                OutboxLine::Unreadable(raw) => text.push_str(raw),
            }
            text.push('\n');
        }
        let mut temp_name = self.path.as_os_str().to_owned();
        temp_name.push(format!(".tmp-{}", std::process::id()));
        let temp = PathBuf::from(temp_name);
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temp, &self.path)
        };
        write().map_err(|error| {
            let _ = std::fs::remove_file(&temp);
            self.io("rewriting (temp file + rename)")(error)
        })
    }
}

/// An SQS outbox: one message per record, body = the record's JSON.
#[derive(Debug, Clone)]
pub struct SqsOutbox {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

/// A message received from the SQS outbox.
#[derive(Debug, Clone)]
pub struct SqsOutboxMessage {
    /// The receipt handle needed to delete it.
    pub receipt_handle: String,
    /// The record, or the raw body when it does not parse.
    pub line: OutboxLine,
}

impl SqsOutbox {
    /// An outbox on `queue_url` through `client`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    fn error(&self, reason: String) -> OutboxError {
        OutboxError::Sqs {
            queue_url: self.queue_url.clone(),
            reason,
        }
    }

    /// Sends one message per record; the first failure stops and is returned with the ids of
    /// the records that were sent before it.
    pub async fn send(&self, records: &[OutboxRecord]) -> Result<(), (Vec<String>, OutboxError)> {
        self.send_delayed(records, Duration::ZERO).await
    }

    /// As [`SqsOutbox::send`], the messages becoming visible after `delay` (at most 15 min).
    pub async fn send_delayed(
        &self,
        records: &[OutboxRecord],
        delay: Duration,
    ) -> Result<(), (Vec<String>, OutboxError)> {
        let delay = i32::try_from(delay.as_secs().min(900)).unwrap_or(900);
        let mut sent = Vec::new();
        for record in records {
            let result = self
                .client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(record.to_line())
                .delay_seconds(delay)
                .send()
                .await;
            if let Err(error) = result {
                let failure = crate::retry::Failure::from_sdk("SendMessage", &error);
                return Err((sent, self.error(failure.reason)));
            }
            sent.push(record.event_id.clone());
        }
        Ok(())
    }

    /// Receives up to 10 messages, hiding them from other consumers for `visibility`.
    pub async fn receive(
        &self,
        visibility: Duration,
    ) -> Result<Vec<SqsOutboxMessage>, OutboxError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .visibility_timeout(i32::try_from(visibility.as_secs()).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|error| {
                self.error(crate::retry::Failure::from_sdk("ReceiveMessage", &error).reason)
            })?;
        Ok(output
            .messages()
            .iter()
            .filter_map(|message| {
                let receipt_handle = message.receipt_handle()?.to_owned();
                let body = message.body().unwrap_or_default();
                let line = match serde_json::from_str::<OutboxRecord>(body) {
                    Ok(record) => OutboxLine::Record(Box::new(record)),
                    Err(_) => OutboxLine::Unreadable(body.to_owned()),
                };
                Some(SqsOutboxMessage {
                    receipt_handle,
                    line,
                })
            })
            .collect())
    }

    /// Deletes one message (after its event was delivered).
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), OutboxError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| {
                self.error(crate::retry::Failure::from_sdk("DeleteMessage", &error).reason)
            })
    }

    /// Replaces a message by an updated record that becomes visible after `delay` (new message
    /// first, then delete the old one: a crash in between leaves a duplicate, never a loss).
    pub async fn replace(
        &self,
        receipt_handle: &str,
        record: &OutboxRecord,
        delay: Duration,
    ) -> Result<(), OutboxError> {
        self.send_delayed(std::slice::from_ref(record), delay)
            .await
            .map_err(|(_, error)| error)?;
        self.delete(receipt_handle).await
    }
}

#[cfg(test)]
mod tests {
    use alchemiser_events::EventType;

    use super::*;
    use alchemiser_events::samples::sample_event;

    #[tokio::test]
    async fn file_outbox_appends_reads_and_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = FileOutbox::new(dir.path().join("nested/outbox.jsonl"));
        assert!(outbox.read().unwrap().is_empty());
        let records: Vec<OutboxRecord> = EventType::ALL
            .iter()
            .map(|&t| {
                OutboxRecord::new(
                    &Outgoing::new(sample_event(t)),
                    "bus",
                    Some("MalformedDetail".into()),
                    "bad".into(),
                    1,
                )
            })
            .collect();
        outbox.append(&records[..3]).await.unwrap();
        outbox.append(&records[3..]).await.unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(outbox.path())
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        let lines = outbox.read().unwrap();
        // One line per event type, then the unreadable one.
        assert_eq!(lines.len(), records.len() + 1);
        assert_eq!(lines[0], OutboxLine::Record(Box::new(records[0].clone())));
        assert_eq!(
            lines[records.len()],
            OutboxLine::Unreadable("not json".into())
        );
        for record in &records {
            assert_eq!(
                record.decode_event().unwrap().event.event_id(),
                record.event_id
            );
        }
        let _lock = outbox.lock().await.unwrap();
        outbox.rewrite(&lines[5..]).unwrap();
        assert_eq!(outbox.read().unwrap(), lines[5..].to_vec());
    }

    #[test]
    fn failed_again_keeps_the_first_failure_time_and_adds_attempts() {
        let record = OutboxRecord::new(
            &Outgoing::new(sample_event(EventType::TradeExecuted)),
            "bus",
            None,
            "x".into(),
            3,
        );
        let first = record.first_failed_at.clone();
        let again = record.failed_again(Some("InternalFailure".into()), "y".into(), 2);
        assert_eq!(again.attempts, 5);
        assert_eq!(again.first_failed_at, first);
        assert_eq!(again.code.as_deref(), Some("InternalFailure"));
    }
}
