//! The ledger in a local file: what `alchemiser run` records and what `workflows list|show` and
//! `alchemiser console` read when no stage is given — a newcomer's ledger, with no AWS account.
//!
//! SQLite (rusqlite, with SQLite compiled in: nothing to install) rather than a pure-Rust
//! key-value file (redb, sled): the console keeps the file open for reading while `alchemiser
//! run` records into it from another process, which SQLite's write-ahead log allows (readers and
//! one writer at once, across processes) and a single-process database's exclusive file lock
//! does not; and the listings are indexed queries. rusqlite is widely used and maintained.
//!
//! Tables (`PRAGMA user_version` = [`SCHEMA_VERSION`]):
//! - `entries` (correlation id, entry key → the entry's JSON), written once per key, as every
//!   store writes them;
//! - `summaries` (one per workflow, with its start, state and whether it is open as columns),
//!   replaced only by a summary of more entries;
//! - derived from each new entry in the same transaction, so they never disagree with it:
//!   `ids` (every id a person may search by → its workflow), `orders` (one row per order a
//!   TradeExecuted reports) and `dead_letters` (when each letter was sent).
//!
//! Times are stored as [`sort_key`] text (UTC, microseconds), whose text order is time order.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

use super::query::{
    dead_letters_in, ids_of, sort_key, Cursor, DeadLetterRecord, Found, OrderPage, OrderQuery,
    OrderTotals, Page, Position, SearchScope, Window, WorkflowQuery, MAX_PAGE,
};
use super::{LedgerError, LedgerStore};
use crate::model::{Entry, Summary};
use crate::trades::{orders_of, OrderRow};

/// Where `alchemiser run` keeps its ledger unless told otherwise, relative to the directory it
/// runs in (as git keeps `.git`).
pub const DEFAULT_LOCAL_LEDGER: &str = ".alchemiser/ledger.sqlite3";

/// The layout this code writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a statement waits for another process's write to finish before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    correlation_id TEXT NOT NULL,
    key TEXT NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (correlation_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS summaries (
    correlation_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    state TEXT NOT NULL,
    open INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    summary TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS summaries_by_start ON summaries (started_at, correlation_id);
CREATE INDEX IF NOT EXISTS summaries_by_state ON summaries (state, started_at, correlation_id);
CREATE INDEX IF NOT EXISTS summaries_open ON summaries (started_at, correlation_id) WHERE open = 1;
CREATE TABLE IF NOT EXISTS ids (
    id TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    PRIMARY KEY (id, correlation_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS orders (
    correlation_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    at TEXT NOT NULL,
    row_key TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    status TEXT NOT NULL,
    filled_value TEXT,
    row TEXT NOT NULL,
    PRIMARY KEY (correlation_id, event_id, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS orders_by_time ON orders (at, row_key);
CREATE INDEX IF NOT EXISTS orders_by_symbol ON orders (symbol, at, row_key);
CREATE TABLE IF NOT EXISTS dead_letters (
    correlation_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (correlation_id, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (at);
";

/// The ledger in a local SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteLedger {
    path: PathBuf,
    connection: Arc<Mutex<Connection>>,
}

impl SqliteLedger {
    /// Opens the ledger at `path` for recording, creating the file (and its directory) when
    /// it is not there.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref().to_path_buf();
        let target = path.display().to_string();
        if let Some(directory) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(directory).map_err(|e| {
                LedgerError::new("creating the ledger's directory", target.clone(), e)
            })?;
        }
        let connection = Connection::open(&path)
            .map_err(|e| LedgerError::new("opening the ledger", target, e))?;
        let ledger = Self::with(path.clone(), connection)?;
        ledger.migrate()?;
        Ok(ledger)
    }

    /// Opens the existing ledger at `path` for reading only: this handle can change nothing in
    /// it (SQLite refuses every write), whoever records into it meanwhile.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref().to_path_buf();
        let connection = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| LedgerError::new("opening the ledger", path.display().to_string(), e))?;
        let ledger = Self::with(path, connection)?;
        let version = ledger.schema_version()?;
        if version != SCHEMA_VERSION {
            return Err(ledger.error(
                "reading the ledger",
                format!(
                    "it has layout version {version}, this alchemiser reads version {SCHEMA_VERSION}: record into it with a matching `alchemiser run`, or move it aside"
                ),
            ));
        }
        Ok(ledger)
    }

    fn with(path: PathBuf, connection: Connection) -> Result<Self, LedgerError> {
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| LedgerError::new("opening the ledger", path.display().to_string(), e))?;
        Ok(Self {
            path,
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(
        &self,
        action: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> LedgerError {
        LedgerError::new(action, self.path.display().to_string(), source)
    }

    fn schema_version(&self) -> Result<i64, LedgerError> {
        let connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| self.error("reading the ledger's layout version", e))
    }

    /// Sets up a file: write-ahead logging (kept in the file, so set by its first opener) and
    /// the tables. Processes that open a new file at once (two runs started together) take
    /// turns: a change of journal mode does not wait for a lock by itself, so it is retried.
    fn migrate(&self) -> Result<(), LedgerError> {
        let version = self.schema_version()?;
        if version > SCHEMA_VERSION {
            return Err(self.error(
                "opening the ledger",
                format!(
                    "it was written by a newer alchemiser (layout version {version}; this one writes {SCHEMA_VERSION}): use that version, or move the file aside"
                ),
            ));
        }
        let connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        let mode = |sql: &str| connection.query_row(sql, [], |row| row.get::<_, String>(0));
        let current =
            mode("PRAGMA journal_mode").map_err(|e| self.error("opening the ledger", e))?;
        if !current.eq_ignore_ascii_case("wal") {
            // WAL: the console reads while a run records.
            retry_while_busy(|| mode("PRAGMA journal_mode = WAL"))
                .map_err(|e| self.error("turning on the ledger's write-ahead log", e))?;
        }
        // NORMAL: a crash may lose a local run's last transactions, never corrupt the file.
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.error("opening the ledger", e))?;
        if version < SCHEMA_VERSION {
            // IMMEDIATE: the write lock first (waiting for it), so that two openers never both
            // hold a read lock and wait for each other's.
            connection
                .execute_batch(&format!(
                    "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(|e| self.error("creating the ledger's tables", e))?;
        }
        Ok(())
    }

    /// Runs `work` on the connection off the async threads (SQLite blocks on the disk).
    async fn run<T: Send + 'static>(
        &self,
        action: &'static str,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let connection = self.connection.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut connection)
        })
        .await
        .map_err(|e| self.error(action, e))?;
        result.map_err(|e| self.error(action, e))
    }
}

/// `work` again while the database is busy (another process holds a lock it needs), for up to
/// [`BUSY_TIMEOUT`]: for the statements SQLite does not wait on by itself.
fn retry_while_busy<T>(mut work: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let started = std::time::Instant::now();
    loop {
        match work() {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if matches!(
                    error.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The JSON in a column, read by `read`; a row that no longer reads is logged and left out
/// rather than failing every read of its workflow (as the DynamoDB store does).
fn readable<T>(text: &str, read: impl FnOnce(&str) -> Result<T, serde_json::Error>) -> Option<T> {
    match read(text) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(%error, "a ledger row no longer reads; left out");
            None
        }
    }
}

fn summaries(rows: Vec<String>) -> Vec<Summary> {
    rows.iter()
        .filter_map(|text| readable(text, |t| serde_json::from_str(t)))
        .collect()
}

fn to_json_error(error: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(error))
}

/// Writes what is derived from a new entry: its ids, its orders, its dead letter's time.
fn derive(
    transaction: &Transaction<'_>,
    correlation_id: &str,
    entry: &Entry,
) -> rusqlite::Result<()> {
    let mut id = transaction
        .prepare_cached("INSERT OR IGNORE INTO ids (id, correlation_id) VALUES (?1, ?2)")?;
    for known in ids_of(entry) {
        id.execute(params![known, correlation_id])?;
    }
    match entry {
        Entry::Event(event) => {
            let mut order = transaction.prepare_cached(
                "INSERT OR IGNORE INTO orders (correlation_id, event_id, position, at, row_key, symbol, side, status, filled_value, row)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for row in orders_of(correlation_id, event) {
                order.execute(params![
                    correlation_id,
                    row.event_id,
                    i64::try_from(row.position).unwrap_or(i64::MAX),
                    sort_key(row.at),
                    row.row_key(),
                    row.symbol,
                    row.side,
                    row.status,
                    row.filled_value().map(|v| v.to_string()),
                    serde_json::to_string(&row).map_err(to_json_error)?,
                ])?;
            }
        }
        Entry::DeadLetter(letter) => {
            transaction.execute(
                "INSERT OR IGNORE INTO dead_letters (correlation_id, message_id, at) VALUES (?1, ?2, ?3)",
                params![
                    correlation_id,
                    letter.message_id,
                    sort_key(letter.sent_at.unwrap_or(letter.recorded_at))
                ],
            )?;
        }
        Entry::DeadLetterDeleted(_) | Entry::TimedOut(_) | Entry::Shadow(_) => {}
    }
    Ok(())
}

/// The `WHERE` and `ORDER BY` of a page at `position` over rows sorted by (`time`, `id`) newest
/// first, with the cursor's two values to bind after the caller's.
fn page_clause(position: &Position, time: &str, id: &str) -> (String, &'static str, Vec<String>) {
    match position {
        Position::Newest => (String::new(), "DESC", Vec::new()),
        Position::After(cursor) => (
            format!(" AND ({time}, {id}) < (?, ?)"),
            "DESC",
            vec![cursor.at.clone(), cursor.id.clone()],
        ),
        Position::Before(cursor) => (
            format!(" AND ({time}, {id}) > (?, ?)"),
            "ASC",
            vec![cursor.at.clone(), cursor.id.clone()],
        ),
    }
}

fn texts(connection: &Connection, sql: &str, values: &[String]) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare_cached(sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(values), |row| row.get(0))?;
    rows.collect()
}

#[async_trait]
impl LedgerStore for SqliteLedger {
    async fn record(&self, correlation_id: &str, entry: &Entry) -> Result<bool, LedgerError> {
        let text = serde_json::to_string(entry).map_err(|e| self.error("encoding an entry", e))?;
        let (correlation_id, entry) = (correlation_id.to_owned(), entry.clone());
        self.run("recording an entry", move |connection| {
            // IMMEDIATE: the write lock first, waiting for another process's write to end.
            let transaction =
                connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let new = transaction.execute(
                "INSERT OR IGNORE INTO entries (correlation_id, key, entry) VALUES (?1, ?2, ?3)",
                params![correlation_id, entry.key(), text],
            )? == 1;
            if new {
                derive(&transaction, &correlation_id, &entry)?;
            }
            transaction.commit()?;
            Ok(new)
        })
        .await
    }

    async fn entries(&self, correlation_id: &str) -> Result<Vec<Entry>, LedgerError> {
        let id = correlation_id.to_owned();
        let rows = self
            .run("reading a workflow's entries", move |connection| {
                texts(
                    connection,
                    "SELECT entry FROM entries WHERE correlation_id = ? ORDER BY key",
                    &[id],
                )
            })
            .await?;
        Ok(rows
            .iter()
            .filter_map(|text| readable(text, Entry::from_stored_json))
            .collect())
    }

    async fn put_summary(&self, summary: &Summary) -> Result<(), LedgerError> {
        let text =
            serde_json::to_string(summary).map_err(|e| self.error("encoding a summary", e))?;
        let summary = summary.clone();
        self.run("storing a summary", move |connection| {
            // A summary of fewer entries than the stored one is older news: not written.
            connection.execute(
                "INSERT INTO summaries (correlation_id, started_at, state, open, entries, summary)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (correlation_id) DO UPDATE SET
                    started_at = excluded.started_at, state = excluded.state, open = excluded.open,
                    entries = excluded.entries, summary = excluded.summary
                 WHERE excluded.entries > summaries.entries",
                params![
                    summary.correlation_id,
                    sort_key(summary.started_at),
                    summary.state.as_str(),
                    summary.is_open(),
                    i64::try_from(summary.entries).unwrap_or(i64::MAX),
                    text,
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn summary(&self, correlation_id: &str) -> Result<Option<Summary>, LedgerError> {
        let id = correlation_id.to_owned();
        let text = self
            .run("reading a summary", move |connection| {
                connection
                    .prepare_cached("SELECT summary FROM summaries WHERE correlation_id = ?")?
                    .query_row([id], |row| row.get::<_, String>(0))
                    .optional()
            })
            .await?;
        Ok(text.and_then(|text| readable(&text, |t| serde_json::from_str(t))))
    }

    async fn summaries_since(&self, since: DateTime<Utc>) -> Result<Vec<Summary>, LedgerError> {
        let since = sort_key(since);
        let rows = self
            .run("listing workflows", move |connection| {
                texts(
                    connection,
                    "SELECT summary FROM summaries WHERE started_at >= ? ORDER BY started_at, correlation_id",
                    &[since],
                )
            })
            .await?;
        Ok(summaries(rows))
    }

    async fn open_since(&self, since: DateTime<Utc>) -> Result<Vec<Summary>, LedgerError> {
        let since = sort_key(since);
        let rows = self
            .run("listing open workflows", move |connection| {
                texts(
                    connection,
                    "SELECT summary FROM summaries WHERE open = 1 AND started_at >= ? ORDER BY started_at, correlation_id",
                    &[since],
                )
            })
            .await?;
        Ok(summaries(rows))
    }

    async fn workflows(&self, query: &WorkflowQuery) -> Result<Page<Summary>, LedgerError> {
        let limit = query.limit.clamp(1, MAX_PAGE);
        let (after, order, cursor) = page_clause(&query.position, "started_at", "correlation_id");
        let mut values = vec![sort_key(query.started.from), sort_key(query.started.to)];
        let state = match query.state {
            Some(state) => {
                values.push(state.as_str().to_owned());
                " AND state = ?"
            }
            None => "",
        };
        values.extend(cursor);
        let sql = format!(
            "SELECT summary FROM summaries WHERE started_at >= ? AND started_at < ?{state}{after}
             ORDER BY started_at {order}, correlation_id {order} LIMIT {}",
            limit + 1
        );
        let rows = self
            .run("listing workflows", move |connection| {
                texts(connection, &sql, &values)
            })
            .await?;
        Ok(Page::from_fetched(
            summaries(rows),
            &query.position,
            limit,
            Cursor::of_workflow,
        ))
    }

    async fn find(&self, id: &str, _within: &WorkflowQuery) -> Result<Found, LedgerError> {
        let id = id.to_owned();
        let workflows = self
            .run("searching by id", move |connection| {
                texts(
                    connection,
                    "SELECT correlation_id FROM summaries WHERE correlation_id = ?1
                     UNION SELECT correlation_id FROM ids WHERE id = ?1
                     ORDER BY 1",
                    &[id],
                )
            })
            .await?;
        Ok(Found {
            workflows,
            scope: SearchScope::Everything,
        })
    }

    async fn orders(&self, query: &OrderQuery) -> Result<OrderPage, LedgerError> {
        let limit = query.limit.clamp(1, MAX_PAGE);
        let mut filter = String::from("at >= ? AND at < ?");
        let mut values = vec![sort_key(query.reported.from), sort_key(query.reported.to)];
        if let Some(symbol) = &query.symbol {
            filter.push_str(" AND symbol = ?");
            values.push(symbol.to_uppercase());
        }
        let (after, order, cursor) = page_clause(&query.position, "at", "row_key");
        let totals_sql = format!("SELECT side, status, filled_value FROM orders WHERE {filter}");
        let page_sql = format!(
            "SELECT row FROM orders WHERE {filter}{after} ORDER BY at {order}, row_key {order} LIMIT {}",
            limit + 1
        );
        let (totals, rows) = self
            .run("listing orders", move |connection| {
                let mut totals = OrderTotals::default();
                let mut statement = connection.prepare_cached(&totals_sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(&values))?;
                while let Some(row) = rows.next()? {
                    let side: String = row.get(0)?;
                    let status: String = row.get(1)?;
                    let value: Option<String> = row.get(2)?;
                    totals.add_parts(side == "buy", &status, value.and_then(|v| v.parse().ok()));
                }
                values.extend(cursor);
                Ok((totals, texts(connection, &page_sql, &values)?))
            })
            .await?;
        let rows: Vec<OrderRow> = rows
            .iter()
            .filter_map(|text| readable(text, |t| serde_json::from_str(t)))
            .collect();
        Ok(OrderPage {
            page: Page::from_fetched(rows, &query.position, limit, Cursor::of_order),
            totals,
            workflows_read: None,
        })
    }

    async fn dead_letters(&self, window: &Window) -> Result<Vec<DeadLetterRecord>, LedgerError> {
        let values = vec![sort_key(window.from), sort_key(window.to)];
        let rows = self
            .run("listing dead letters", move |connection| {
                let mut statement = connection.prepare_cached(
                    "SELECT d.correlation_id, e.entry, x.entry, s.summary FROM dead_letters d
                     JOIN entries e ON e.correlation_id = d.correlation_id AND e.key = 'dlq#' || d.message_id
                     LEFT JOIN entries x ON x.correlation_id = d.correlation_id AND x.key = 'dlq#' || d.message_id || '#deleted'
                     LEFT JOIN summaries s ON s.correlation_id = d.correlation_id
                     WHERE d.at >= ? AND d.at < ? ORDER BY d.at DESC, d.correlation_id DESC, d.message_id DESC",
                )?;
                let rows = statement.query_map(rusqlite::params_from_iter(&values), |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, Option<String>>(3)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        Ok(rows
            .into_iter()
            .flat_map(|(correlation_id, letter, deleted, summary)| {
                let entries: Vec<Entry> = std::iter::once(letter)
                    .chain(deleted)
                    .filter_map(|text| readable(&text, Entry::from_stored_json))
                    .collect();
                let workflow: Option<Summary> =
                    summary.and_then(|text| readable(&text, |t| serde_json::from_str(t)));
                let mut records = dead_letters_in(&correlation_id, &entries);
                for record in &mut records {
                    record.workflow.clone_from(&workflow);
                }
                records
            })
            .collect())
    }
}
