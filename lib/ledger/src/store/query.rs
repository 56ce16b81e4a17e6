//! The questions a reader (the console, `workflows list`) asks the ledger beyond one workflow:
//! a page of workflows, a page of orders, the dead letters of a window, the workflow an id
//! names. Every listing is bounded by a window and a page size, so no reader ever needs the
//! whole store; each adapter answers as its storage allows (an index, a paginated query).

use alchemiser_events::Decimal;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::model::{DeadLetterDeletion, DeadLetterEntry, Entry, Summary, WorkflowState};
use crate::trades::{is_filled, orders_of, succeeded, OrderRow};

/// The most items one page may hold: a page is what a person reads, and what one request to a
/// store may cost.
pub const MAX_PAGE: usize = 500;

/// A time as the stores sort it: RFC 3339 in UTC with microseconds, so that text order is time
/// order (the DynamoDB index's sort key, the local file's columns).
pub fn sort_key(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A start-to-end window of time, `from` included, `to` not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// The first instant in it.
    pub from: DateTime<Utc>,
    /// The first instant after it.
    pub to: DateTime<Utc>,
}

impl Window {
    /// Whether `at` falls in it.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }
}

/// Where a page of a listing ends, in the listing's order (newest first): the sort key of the
/// item's time and an id that breaks ties. Opaque to people; it travels in links as a token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The item's time, as [`sort_key`] writes it.
    pub at: String,
    /// What tells apart items of the same time (a workflow's correlation id, an order's key).
    pub id: String,
}

/// A page token that is not one the console wrote.
#[derive(Debug, thiserror::Error)]
#[error("`{token}` is not a page position this console wrote: open the list from its first page")]
pub struct CursorError {
    /// The token, as given.
    pub token: String,
}

impl Cursor {
    /// The cursor after (or before) `summary` in a listing of workflows.
    pub fn of_workflow(summary: &Summary) -> Self {
        Self {
            at: sort_key(summary.started_at),
            id: summary.correlation_id.clone(),
        }
    }

    /// The cursor after (or before) `order` in a listing of orders.
    pub fn of_order(order: &OrderRow) -> Self {
        Self {
            at: sort_key(order.at),
            id: order.row_key(),
        }
    }

    /// The cursor after (or before) `record` in a listing of dead letters.
    pub fn of_dead_letter(record: &DeadLetterRecord) -> Self {
        Self {
            at: sort_key(record.at()),
            id: format!(
                "{}\u{1f}{}",
                record.correlation_id, record.letter.message_id
            ),
        }
    }

    /// The token a link carries: the time, `~`, the id (the time holds no `~`).
    pub fn to_token(&self) -> String {
        format!("{}~{}", self.at, self.id)
    }

    /// Reads a token [`Cursor::to_token`] wrote.
    pub fn from_token(token: &str) -> Result<Self, CursorError> {
        let error = || CursorError {
            token: alchemiser_events::text::printable(token)
                .chars()
                .take(120)
                .collect(),
        };
        let (at, id) = token.split_once('~').ok_or_else(error)?;
        let time = DateTime::parse_from_rfc3339(at).map_err(|_| error())?;
        if id.is_empty() || sort_key(time.with_timezone(&Utc)) != at {
            return Err(error());
        }
        Ok(Self {
            at: at.to_owned(),
            id: id.to_owned(),
        })
    }
}

/// Which page of a listing (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Position {
    /// The first page: the newest items.
    #[default]
    Newest,
    /// The items listed after the cursor (older).
    After(Cursor),
    /// The items listed before the cursor (newer), for a link back.
    Before(Cursor),
}

/// One page of a listing, newest first, with where the neighbouring pages start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The position of the next (older) page, if there are older items.
    #[serde(skip)]
    pub older: Option<Cursor>,
    /// The position of the previous (newer) page, if there are newer items.
    #[serde(skip)]
    pub newer: Option<Cursor>,
}

impl<T> Page<T> {
    /// A page of `limit` items out of `fetched`, which a store read in the direction of
    /// `position` with one item more than the page holds (so it knows whether there is more
    /// in that direction); `cursor` gives an item's cursor.
    pub fn from_fetched(
        mut fetched: Vec<T>,
        position: &Position,
        limit: usize,
        cursor: impl Fn(&T) -> Cursor,
    ) -> Self {
        let more = fetched.len() > limit;
        fetched.truncate(limit);
        if let Position::Before(_) = position {
            // Read oldest first from the cursor up: shown newest first.
            fetched.reverse();
        }
        let first = fetched.first().map(&cursor);
        let last = fetched.last().map(&cursor);
        let (older, newer) = match position {
            Position::Newest => (last.filter(|_| more), None),
            Position::After(_) => (last.filter(|_| more), first),
            Position::Before(_) => (last, first.filter(|_| more)),
        };
        Self {
            items: fetched,
            older,
            newer,
        }
    }

    /// The page of `limit` items at `position` out of every item, `all` sorted newest first.
    pub fn of_sorted(
        all: Vec<T>,
        position: &Position,
        limit: usize,
        cursor: impl Fn(&T) -> Cursor,
    ) -> Self {
        let fetched: Vec<T> = match position {
            Position::Newest => all.into_iter().take(limit + 1).collect(),
            Position::After(after) => all
                .into_iter()
                .filter(|item| &cursor(item) < after)
                .take(limit + 1)
                .collect(),
            Position::Before(before) => {
                let mut newer: Vec<T> = all
                    .into_iter()
                    .filter(|item| &cursor(item) > before)
                    .collect();
                newer.reverse();
                newer.truncate(limit + 1);
                newer
            }
        };
        Self::from_fetched(fetched, position, limit, cursor)
    }
}

/// A page of workflows: those started in a window, in one state or any, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowQuery {
    /// When they started.
    pub started: Window,
    /// Only workflows in this state.
    pub state: Option<WorkflowState>,
    /// Which page.
    pub position: Position,
    /// How many per page (1 to [`MAX_PAGE`]).
    pub limit: usize,
}

impl WorkflowQuery {
    /// Whether `summary` is one the query lists (window and state; not the page).
    pub fn matches(&self, summary: &Summary) -> bool {
        self.started.contains(summary.started_at)
            && self.state.is_none_or(|state| summary.state == state)
    }
}

/// A page of orders: those reported in a window, of one symbol or any, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQuery {
    /// When the trade that reports them happened (the TradeExecuted's time).
    pub reported: Window,
    /// Only this symbol (as the report writes it, upper case).
    pub symbol: Option<String>,
    /// Which page.
    pub position: Position,
    /// How many per page (1 to [`MAX_PAGE`]).
    pub limit: usize,
}

impl OrderQuery {
    /// Whether `order` is one the query lists (window and symbol; not the page).
    pub fn matches(&self, order: &OrderRow) -> bool {
        self.reported.contains(order.at)
            && self
                .symbol
                .as_deref()
                .is_none_or(|symbol| order.symbol.eq_ignore_ascii_case(symbol))
    }
}

/// Sums over every order a query matches (not only its page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrderTotals {
    /// Orders.
    pub orders: usize,
    /// Orders that filled in full.
    pub filled: usize,
    /// Orders that did not do what the plan intended (failed, canceled, rejected, ...).
    pub not_filled: usize,
    /// Σ filled quantity × fill price of the buys.
    pub bought: Decimal,
    /// Σ filled quantity × fill price of the sells.
    pub sold: Decimal,
}

impl OrderTotals {
    /// Adds `order` to the sums.
    pub fn add(&mut self, order: &OrderRow) {
        self.add_parts(order.is_buy(), &order.status, order.filled_value());
    }

    /// Adds an order of this side, status and filled value to the sums (what a store reads
    /// from an index without the whole row).
    pub fn add_parts(&mut self, buy: bool, status: &str, filled_value: Option<Decimal>) {
        self.orders += 1;
        if is_filled(status) {
            self.filled += 1;
        } else if !succeeded(status) {
            self.not_filled += 1;
        }
        let value = filled_value.unwrap_or_default();
        if buy {
            self.bought = self.bought.saturating_add(value);
        } else {
            self.sold = self.sold.saturating_add(value);
        }
    }
}

/// A page of orders and the sums over all the query matches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderPage {
    /// The page.
    #[serde(flatten)]
    pub page: Page<OrderRow>,
    /// The sums over every matching order.
    pub totals: OrderTotals,
    /// How many workflows the store read to answer, when it had to read them one by one (a
    /// store without an index of orders); `None` when it read an index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflows_read: Option<usize>,
}

/// A dead letter of a workflow and, if a person deleted it, the deletion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterRecord {
    /// The workflow it names.
    pub correlation_id: String,
    /// The letter as the sweep recorded it.
    pub letter: DeadLetterEntry,
    /// Its deletion, when it was deleted (`alchemiser dlq delete`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<DeadLetterDeletion>,
    /// Its workflow's summary when the store read it with the letter (for whether the workflow
    /// completed since); not part of the letter's JSON.
    #[serde(skip)]
    pub workflow: Option<Summary>,
}

impl DeadLetterRecord {
    /// When it was sent to the queue (or recorded, when the queue did not say).
    pub fn at(&self) -> DateTime<Utc> {
        self.letter.sent_at.unwrap_or(self.letter.recorded_at)
    }
}

/// What a search by id found: the workflows the id names, and how far the store looked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// The workflows (correlation ids) the id names: its own, or the workflow of an event,
    /// dead letter, plan or order with that id.
    pub workflows: Vec<String>,
    /// Where the store looked.
    pub scope: SearchScope,
}

/// How far a search looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "looked_at", rename_all = "snake_case")]
pub enum SearchScope {
    /// An index of every id in the store.
    Everything,
    /// Correlation ids in the whole store, and every id of the `workflows` newest workflows of
    /// the window (`complete`: that was all of the window).
    Window {
        /// Workflows whose entries were read.
        workflows: usize,
        /// Whether those were every workflow of the window.
        complete: bool,
    },
}

/// The ids a person may search `entry`'s workflow by: an event's id (and a plan's, and its
/// orders' broker and client order ids), a dead letter's message id and the event it carries.
pub fn ids_of(entry: &Entry) -> Vec<String> {
    match entry {
        Entry::Event(event) => {
            let mut ids = vec![event.event_id.clone()];
            if let Some(plan_id) = event
                .detail
                .as_ref()
                .and_then(|d| d.pointer("/rebalance_plan/plan_id"))
                .and_then(serde_json::Value::as_str)
            {
                ids.push(plan_id.to_owned());
            }
            for order in orders_of("", event) {
                ids.extend(order.ids().map(str::to_owned));
            }
            ids
        }
        Entry::DeadLetter(letter) => std::iter::once(letter.message_id.clone())
            .chain(letter.event_id.clone())
            .collect(),
        Entry::DeadLetterDeleted(deletion) => vec![deletion.message_id.clone()],
        Entry::TimedOut(_) | Entry::Shadow(_) => Vec::new(),
    }
}

/// The dead letters among a workflow's entries, each with its deletion if there is one.
pub fn dead_letters_in(correlation_id: &str, entries: &[Entry]) -> Vec<DeadLetterRecord> {
    entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::DeadLetter(letter) => Some(DeadLetterRecord {
                correlation_id: correlation_id.to_owned(),
                letter: letter.clone(),
                deleted: entries.iter().find_map(|other| match other {
                    Entry::DeadLetterDeleted(d) if d.message_id == letter.message_id => {
                        Some(d.clone())
                    }
                    _ => None,
                }),
                workflow: None,
            }),
            _ => None,
        })
        .collect()
}
