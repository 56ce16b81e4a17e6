//! What each page shows, as data: one model per page, built from the ledger through its port,
//! rendered as HTML by [`crate::html`] and served as JSON as it is (`?format=json`), and printed
//! by the CLI's `--json`. No HTML here, no HTTP.

pub mod workflow;

use std::collections::BTreeMap;

use alchemiser_events::Decimal;
use alchemiser_ledger::store::query::{
    Cursor, Found, OrderQuery, OrderTotals, Page, Position, Window, WorkflowQuery,
};
use alchemiser_ledger::{LedgerError, LedgerStore, Summary, WorkflowState};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::halt::HaltView;
pub use workflow::{DeadLetterView, OrderView, WorkflowView};

/// How long a dead letter waits in the queue before SQS drops it: the dead letters a person can
/// still resend were sent within it.
pub const DEAD_LETTER_RETENTION: TimeDelta = TimeDelta::days(14);

/// Which ledger the pages show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceView {
    /// A local ledger file (what `alchemiser run` records).
    Local {
        /// The file.
        path: String,
    },
    /// A stage's DynamoDB ledger.
    Stage {
        /// The stage.
        stage: String,
        /// Its table.
        table: String,
    },
}

impl SourceView {
    /// The stage the commands a page offers name, if the ledger is a stage's.
    pub fn stage(&self) -> Option<&str> {
        match self {
            SourceView::Local { .. } => None,
            SourceView::Stage { stage, .. } => Some(stage),
        }
    }

    /// A short name for page titles.
    pub fn label(&self) -> String {
        match self {
            SourceView::Local { path } => format!("local ledger {path}"),
            SourceView::Stage { stage, .. } => format!("stage {stage}"),
        }
    }
}

/// A workflow in a list: its summary and how long it ran (or has been running).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowRow {
    /// Its summary.
    #[serde(flatten)]
    pub summary: Summary,
    /// Milliseconds from its start to its end, or (still running) to now.
    pub duration_ms: i64,
}

impl WorkflowRow {
    fn of(summary: Summary, now: DateTime<Utc>) -> Self {
        let end = if summary.state.is_terminal() {
            summary.reached_at()
        } else {
            now
        };
        Self {
            duration_ms: (end - summary.started_at).num_milliseconds(),
            summary,
        }
    }
}

/// The overview: the last run, and what the window holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverviewView {
    /// The window the counts are of (workflows started in it).
    pub window: Window,
    /// The newest workflow of the ledger, whenever it started.
    pub last_run: Option<WorkflowRow>,
    /// How many workflows of the window are in each state.
    pub counts: Counts,
    /// The median duration of the window's completed workflows, in milliseconds.
    pub duration_p50_ms: Option<i64>,
    /// Their 95th percentile duration, in milliseconds.
    pub duration_p95_ms: Option<i64>,
    /// Failed and timed-out workflows of the window by the step where they stopped, most first.
    pub failures_by_step: Vec<StepCount>,
    /// The window's latest failures (newest first, at most [`RECENT_FAILURES`]).
    pub recent_failures: Vec<WorkflowRow>,
    /// Runs per period of the window, for the chart.
    pub runs: Vec<Bucket>,
    /// Dead letters sent in the last [`DEAD_LETTER_RETENTION`] still waiting in the queue.
    pub open_dead_letters: usize,
    /// The stage's kill switch.
    pub trading_halt: HaltView,
}

/// How many failures the overview lists.
pub const RECENT_FAILURES: usize = 5;

/// Workflows by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// All of them.
    pub total: usize,
    /// Completed.
    pub completed: usize,
    /// Failed.
    pub failed: usize,
    /// Timed out.
    pub timed_out: usize,
    /// Not ended yet.
    pub running: usize,
}

impl Counts {
    fn add(&mut self, state: WorkflowState) {
        self.total += 1;
        match state {
            WorkflowState::Completed => self.completed += 1,
            WorkflowState::Failed => self.failed += 1,
            WorkflowState::TimedOut => self.timed_out += 1,
            _ => self.running += 1,
        }
    }
}

/// A step and how many workflows stopped there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepCount {
    /// The step (a failure's `failure_step`, or where a timed-out workflow stopped).
    pub step: String,
    /// How many.
    pub count: usize,
}

/// The runs that started in one period of the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// The period's start.
    pub from: DateTime<Utc>,
    /// Workflows by state.
    pub counts: Counts,
}

/// The value at `percentile` (0..=100) of `sorted` by nearest rank.
fn percentile(sorted: &[i64], percentile: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (percentile * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// The overview of `store` at `now` for the workflows started in `window`.
pub async fn overview(
    store: &dyn LedgerStore,
    now: DateTime<Utc>,
    window: Window,
    source: &SourceView,
    trading_halt: HaltView,
) -> Result<OverviewView, LedgerError> {
    let mut summaries = store.summaries_since(window.from).await?;
    summaries.retain(|s| window.contains(s.started_at));
    let last = store
        .workflows(&WorkflowQuery {
            started: all_time(now),
            state: None,
            position: Position::Newest,
            limit: 1,
        })
        .await?;
    let mut counts = Counts::default();
    let mut durations = Vec::new();
    let mut steps: BTreeMap<String, usize> = BTreeMap::new();
    for summary in &summaries {
        counts.add(summary.state);
        match summary.state {
            WorkflowState::Completed => durations.push(summary.duration().num_milliseconds()),
            WorkflowState::Failed | WorkflowState::TimedOut => {
                let step = summary
                    .failure
                    .as_ref()
                    .map_or_else(|| summary.last_step.to_string(), |f| f.step.clone());
                *steps.entry(step).or_default() += 1;
            }
            _ => {}
        }
    }
    durations.sort_unstable();
    let mut failures_by_step: Vec<StepCount> = steps
        .into_iter()
        .map(|(step, count)| StepCount { step, count })
        .collect();
    failures_by_step.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.step.cmp(&b.step)));
    let recent_failures = summaries
        .iter()
        .rev()
        .filter(|s| matches!(s.state, WorkflowState::Failed | WorkflowState::TimedOut))
        .take(RECENT_FAILURES)
        .map(|s| WorkflowRow::of(s.clone(), now))
        .collect();
    let letters = dead_letters(
        store,
        Window {
            from: now - DEAD_LETTER_RETENTION,
            to: now + TimeDelta::days(1),
        },
        source,
    )
    .await?;
    Ok(OverviewView {
        window,
        last_run: last
            .items
            .into_iter()
            .next()
            .map(|s| WorkflowRow::of(s, now)),
        duration_p50_ms: percentile(&durations, 50),
        duration_p95_ms: percentile(&durations, 95),
        runs: buckets(&summaries, window),
        counts,
        failures_by_step,
        recent_failures,
        open_dead_letters: letters.waiting,
        trading_halt,
    })
}

/// The window of every workflow a ledger can hold at `now` (a day ahead for clocks that run
/// fast).
pub fn all_time(now: DateTime<Utc>) -> Window {
    Window {
        from: DateTime::UNIX_EPOCH,
        to: now + TimeDelta::days(1),
    }
}

/// The runs of `summaries` per hour (a window of two days or less) or per day, at most 120
/// periods (the latest ones).
fn buckets(summaries: &[Summary], window: Window) -> Vec<Bucket> {
    const MOST: i64 = 120;
    let span = window.to - window.from;
    let size = if span <= TimeDelta::days(2) {
        TimeDelta::hours(1)
    } else {
        TimeDelta::days(1)
    };
    let periods = (span.num_seconds() / size.num_seconds().max(1) + 1).clamp(1, MOST);
    let first = window.to - size * i32::try_from(periods).unwrap_or(1);
    let mut buckets: Vec<Bucket> = (0..periods)
        .map(|i| Bucket {
            from: first + size * i32::try_from(i).unwrap_or(0),
            counts: Counts::default(),
        })
        .collect();
    for summary in summaries {
        let offset = (summary.started_at - first).num_seconds() / size.num_seconds().max(1);
        if let Some(bucket) = usize::try_from(offset)
            .ok()
            .and_then(|i| buckets.get_mut(i))
        {
            bucket.counts.add(summary.state);
        }
    }
    buckets
}

/// A list of workflows: a page of those the filters match, or what a search found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowsView {
    /// When they started.
    pub window: Window,
    /// The state asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<WorkflowState>,
    /// The page (or the workflows a search found).
    pub workflows: Vec<WorkflowRow>,
    /// The token of the next (older) page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub older_page: Option<String>,
    /// The token of the previous (newer) page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newer_page: Option<String>,
    /// The search, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchView>,
}

/// What a search by id found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchView {
    /// The id searched for.
    pub id: String,
    /// What the store found and where it looked.
    #[serde(flatten)]
    pub found: Found,
}

fn tokens<T>(page: &Page<T>) -> (Option<String>, Option<String>) {
    (
        page.older.as_ref().map(Cursor::to_token),
        page.newer.as_ref().map(Cursor::to_token),
    )
}

/// The page of workflows `query` asks for; with `search`, the workflows that id names instead.
pub async fn workflows(
    store: &dyn LedgerStore,
    now: DateTime<Utc>,
    query: &WorkflowQuery,
    search: Option<&str>,
) -> Result<WorkflowsView, LedgerError> {
    let mut view = WorkflowsView {
        window: query.started,
        state: query.state,
        workflows: Vec::new(),
        older_page: None,
        newer_page: None,
        search: None,
    };
    if let Some(id) = search {
        let found = store.find(id, query).await?;
        for correlation_id in &found.workflows {
            if let Some(summary) = store.summary(correlation_id).await? {
                view.workflows.push(WorkflowRow::of(summary, now));
            }
        }
        view.search = Some(SearchView {
            id: id.to_owned(),
            found,
        });
        return Ok(view);
    }
    let page = store.workflows(query).await?;
    (view.older_page, view.newer_page) = tokens(&page);
    view.workflows = page
        .items
        .into_iter()
        .map(|s| WorkflowRow::of(s, now))
        .collect();
    Ok(view)
}

/// One workflow, or `None` when the ledger has no live event of it.
pub async fn workflow(
    store: &dyn LedgerStore,
    correlation_id: &str,
    source: &SourceView,
) -> Result<Option<WorkflowView>, LedgerError> {
    let entries = store.entries(correlation_id).await?;
    Ok(alchemiser_ledger::summarize(correlation_id, &entries)
        .map(|summary| WorkflowView::of(summary, &entries, source.stage())))
}

/// Orders across workflows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrdersView {
    /// When they were reported.
    pub window: Window,
    /// The symbol asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The page.
    pub orders: Vec<OrderView>,
    /// The sums over every order the filters match.
    pub totals: OrderTotals,
    /// The average slippage of the page's filled orders, in basis points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_mean_slippage_bps: Option<Decimal>,
    /// The token of the next (older) page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub older_page: Option<String>,
    /// The token of the previous (newer) page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newer_page: Option<String>,
    /// How many workflows the store read one by one to answer (a stage's ledger has no index of
    /// orders).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflows_read: Option<usize>,
}

/// The page of orders `query` asks for.
pub async fn orders(
    store: &dyn LedgerStore,
    query: &OrderQuery,
) -> Result<OrdersView, LedgerError> {
    let answer = store.orders(query).await?;
    let (older_page, newer_page) = tokens(&answer.page);
    let orders: Vec<OrderView> = answer
        .page
        .items
        .into_iter()
        .map(|order| OrderView::of(order, None))
        .collect();
    let slippages: Vec<Decimal> = orders.iter().filter_map(|o| o.slippage_bps).collect();
    let page_mean_slippage_bps = (!slippages.is_empty())
        .then(|| {
            slippages
                .iter()
                .try_fold(Decimal::ZERO, |sum, s| sum.checked_add(*s))?
                .checked_div(Decimal::from(slippages.len()))
        })
        .flatten()
        .map(|mean| mean.round_dp(2));
    Ok(OrdersView {
        window: query.reported,
        symbol: query.symbol.clone(),
        orders,
        totals: answer.totals,
        page_mean_slippage_bps,
        older_page,
        newer_page,
        workflows_read: answer.workflows_read,
    })
}

/// The dead letters of a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLettersView {
    /// When they were sent.
    pub window: Window,
    /// How many are still waiting in the queue.
    pub waiting: usize,
    /// Every letter, newest first.
    pub letters: Vec<DeadLetterView>,
}

/// The dead letters sent in `window`, each with its status and commands.
pub async fn dead_letters(
    store: &dyn LedgerStore,
    window: Window,
    source: &SourceView,
) -> Result<DeadLettersView, LedgerError> {
    let records = store.dead_letters(&window).await?;
    let letters: Vec<DeadLetterView> = records
        .into_iter()
        .map(|record| {
            let workflow = record.workflow.clone();
            DeadLetterView::of(record, workflow.as_ref(), source.stage())
        })
        .collect();
    Ok(DeadLettersView {
        window,
        waiting: letters
            .iter()
            .filter(|l| l.status == workflow::LetterStatus::Waiting)
            .count(),
        letters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_by_nearest_rank() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), Some(50));
        assert_eq!(percentile(&values, 95), Some(95));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
    }
}
