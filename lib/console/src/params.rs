//! A page's query string, read strictly into what the page asks the ledger: an unknown or
//! repeated parameter, a malformed value or a window too wide is a [`BadRequest`] naming the
//! parameter and the rule (a 400 page), never a guess and never a panic.

use std::collections::BTreeMap;
use std::time::Duration;

use alchemiser_events::text::{is_hidden_control, printable};
use alchemiser_ledger::store::query::{
    Cursor, OrderQuery, Position, Window, WorkflowQuery, MAX_PAGE,
};
use alchemiser_ledger::WorkflowState;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// A query string the page cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the `{parameter}` parameter {why}: fix the address, or use the page's form and links")]
pub struct BadRequest {
    /// The parameter.
    pub parameter: String,
    /// What is wrong with it.
    pub why: String,
}

fn bad(parameter: &str, why: impl Into<String>) -> BadRequest {
    BadRequest {
        parameter: printable(parameter).chars().take(60).collect(),
        why: why.into(),
    }
}

/// The widest window a page reads (a stage's ledger keeps 90 days by default).
pub const LONGEST_WINDOW: Duration = Duration::from_secs(400 * 24 * 3600);
/// How many workflows or orders a page lists unless told.
pub const DEFAULT_LIMIT: usize = 50;
/// The longest id a search or the workflow page takes.
const LONGEST_ID: usize = 1024;

/// How a page answers: HTML for people, JSON for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The page.
    #[default]
    Html,
    /// The page's model as JSON.
    Json,
}

/// The parameters of one request, each given once.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
    /// How to answer.
    pub format: Format,
}

impl Params {
    /// Reads `query` (the part after `?`), allowing only `allowed` (and `format`).
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self, BadRequest> {
        let mut values = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if name != "format" && !allowed.contains(&name.as_ref()) {
                let known = if allowed.is_empty() {
                    "this page takes none but `format`".to_owned()
                } else {
                    format!(
                        "this page takes {} and `format`",
                        allowed
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                return Err(bad(&name, format!("is not one this page knows ({known})")));
            }
            if values
                .insert(name.to_string(), value.trim().to_owned())
                .is_some()
            {
                return Err(bad(&name, "is given twice"));
            }
        }
        let format = match values.remove("format").as_deref() {
            None | Some("" | "html") => Format::Html,
            Some("json") => Format::Json,
            Some(other) => {
                return Err(bad(
                    "format",
                    format!("is `{}`; use `html` or `json`", shown(other)),
                ))
            }
        };
        Ok(Self { values, format })
    }

    /// The value of `name`, when given and not empty (an empty form field is not given).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The window of `since` (back from `now`), or `from`/`to` (dates, whole UTC days, or RFC
    /// 3339 instants), else `default` back from `now`.
    pub fn window(&self, now: DateTime<Utc>, default: Duration) -> Result<Window, BadRequest> {
        let (from, to) = (self.get("from"), self.get("to"));
        if let Some(since) = self.get("since") {
            if from.is_some() || to.is_some() {
                return Err(bad(
                    "since",
                    "cannot be given with `from` or `to`: choose one",
                ));
            }
            let span = parse_span(since).map_err(|why| bad("since", why))?;
            return window_back(now, span, "since");
        }
        if from.is_none() && to.is_none() {
            return window_back(now, default, "since");
        }
        let to = match to {
            Some(text) => instant(text, "to", true)?,
            // Ahead of now: a clock that runs fast elsewhere still lists its newest workflow.
            None => now + TimeDelta::days(1),
        };
        let from = match from {
            Some(text) => instant(text, "from", false)?,
            None => to - span_delta(default),
        };
        if from >= to {
            return Err(bad("from", "is not before `to`"));
        }
        if to - from > span_delta(LONGEST_WINDOW) {
            return Err(bad(
                "from",
                "and `to` are more than 400 days apart: narrow the window",
            ));
        }
        Ok(Window { from, to })
    }

    /// Which page: `after` (older) or `before` (newer) a cursor token, else the first.
    pub fn position(&self) -> Result<Position, BadRequest> {
        match (self.get("after"), self.get("before")) {
            (Some(_), Some(_)) => Err(bad("after", "cannot be given with `before`: choose one")),
            (Some(token), None) => Cursor::from_token(token)
                .map(Position::After)
                .map_err(|e| bad("after", e.to_string())),
            (None, Some(token)) => Cursor::from_token(token)
                .map(Position::Before)
                .map_err(|e| bad("before", e.to_string())),
            (None, None) => Ok(Position::Newest),
        }
    }

    /// How many per page: `limit` (1 to [`MAX_PAGE`]), else [`DEFAULT_LIMIT`].
    pub fn limit(&self) -> Result<usize, BadRequest> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    bad(
                        "limit",
                        format!(
                            "is `{}`; give a whole number from 1 to {MAX_PAGE}",
                            shown(text)
                        ),
                    )
                }),
        }
    }

    /// The workflow state `state`, when given.
    pub fn state(&self) -> Result<Option<WorkflowState>, BadRequest> {
        self.get("state")
            .map(|text| {
                text.parse()
                    .map_err(|_| bad("state", format!("is `{}`; use started, signalled, planned, executing, completed, failed or timed_out", shown(text))))
            })
            .transpose()
    }

    /// An id in `name`: not empty, at most 1,024 characters, no control characters (no id the
    /// contract accepts has them).
    pub fn id(&self, name: &str) -> Result<Option<String>, BadRequest> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        if text.chars().count() > LONGEST_ID {
            return Err(bad(
                name,
                format!("is longer than {LONGEST_ID} characters: no id is"),
            ));
        }
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() || is_hidden_control(*c))
        {
            return Err(bad(
                name,
                format!(
                    "holds the control character U+{:04X}, which no id holds",
                    u32::from(c)
                ),
            ));
        }
        Ok(Some(text.to_owned()))
    }

    /// A ticker in `symbol`: 1 to 12 letters, digits, `.`, `-` or `/`, upper-cased.
    pub fn symbol(&self) -> Result<Option<String>, BadRequest> {
        let Some(text) = self.get("symbol") else {
            return Ok(None);
        };
        let valid = text.len() <= 12
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '/'));
        if !valid {
            return Err(bad(
                "symbol",
                format!("is `{}`; give a ticker such as SPY (letters, digits, `.`, `-`, `/`; at most 12)", shown(text)),
            ));
        }
        Ok(Some(text.to_uppercase()))
    }

    /// The workflows query of the list page (default window: the last 7 days).
    pub fn workflow_query(&self, now: DateTime<Utc>) -> Result<WorkflowQuery, BadRequest> {
        Ok(WorkflowQuery {
            started: self.window(now, Duration::from_secs(7 * 24 * 3600))?,
            state: self.state()?,
            position: self.position()?,
            limit: self.limit()?,
        })
    }

    /// The orders query of the orders page (default window: the last 7 days).
    pub fn order_query(&self, now: DateTime<Utc>) -> Result<OrderQuery, BadRequest> {
        Ok(OrderQuery {
            reported: self.window(now, Duration::from_secs(7 * 24 * 3600))?,
            symbol: self.symbol()?,
            position: self.position()?,
            limit: self.limit()?,
        })
    }
}

/// A value quoted in an error: as text, cut short.
fn shown(text: &str) -> String {
    printable(text).chars().take(60).collect()
}

fn span_delta(span: Duration) -> TimeDelta {
    TimeDelta::from_std(span).unwrap_or(TimeDelta::MAX)
}

fn window_back(now: DateTime<Utc>, span: Duration, name: &str) -> Result<Window, BadRequest> {
    if span > LONGEST_WINDOW {
        return Err(bad(name, "is more than 400 days: narrow the window"));
    }
    Ok(Window {
        from: now - span_delta(span),
        to: now + TimeDelta::days(1),
    })
}

/// A window back from now: `90m`, `24h`, `7d`, `2h30m` (as the CLI's `--since`).
pub fn parse_span(text: &str) -> Result<Duration, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "is `{text}`, which has no unit: write {text}h for hours, {text}m for minutes or {text}d for days"
        ));
    }
    let span = humantime::parse_duration(text).map_err(|_| {
        format!(
            "is `{}`, not a duration: write a number and a unit, e.g. 90m, 24h, 7d",
            shown(text)
        )
    })?;
    if span.is_zero() {
        return Err("is zero: give a window of at least a minute".into());
    }
    Ok(span)
}

/// `text` as an instant: an RFC 3339 time, or a date (its UTC midnight; for the end of a
/// window, the next midnight: the day is included).
fn instant(text: &str, name: &str, end: bool) -> Result<DateTime<Utc>, BadRequest> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        bad(
            name,
            format!(
                "is `{}`; give a date (2026-12-06) or an RFC 3339 time (2026-12-06T14:30:00Z)",
                shown(text)
            ),
        )
    })?;
    let day = if end { date.succ_opt() } else { Some(date) };
    day.and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| bad(name, "is a date out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_query_string_reads_into_a_query_or_says_which_parameter_is_wrong() {
        let params = Params::parse(
            Some("state=failed&from=2026-12-01&to=2026-12-05&limit=10"),
            &["state", "from", "to", "limit", "after", "before"],
        )
        .unwrap();
        let query = params.workflow_query(now()).unwrap();
        assert_eq!(query.state, Some(WorkflowState::Failed));
        assert_eq!(query.started.from.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(
            query.started.to.to_rfc3339(),
            "2026-12-06T00:00:00+00:00",
            "the last day included"
        );
        assert_eq!(query.limit, 10);

        let cases = [
            ("state=done", "state"),
            ("limit=0", "limit"),
            ("limit=100000", "limit"),
            ("limit=-1", "limit"),
            ("since=24", "since"),
            ("since=soon", "since"),
            ("since=1000d", "since"),
            ("since=1h&from=2026-12-01", "since"),
            ("from=2026-13-01", "from"),
            ("from=2026-12-05&to=2026-12-01", "from"),
            ("after=nonsense", "after"),
            ("x=1", "x"),
            ("state=failed&state=completed", "state"),
            ("format=xml", "format"),
        ];
        for (query, parameter) in cases {
            let error = Params::parse(
                Some(query),
                &["state", "from", "to", "limit", "since", "after", "before"],
            )
            .and_then(|p| p.workflow_query(now()))
            .expect_err(query);
            assert_eq!(error.parameter, parameter, "{query}: {error}");
        }
    }

    #[test]
    fn an_id_with_a_control_character_is_refused_by_its_code_point() {
        let params = Params::parse(Some("id=a%1Bb"), &["id"]).unwrap();
        let error = params.id("id").unwrap_err();
        assert!(error.to_string().contains("U+001B"), "{error}");
        let params = Params::parse(Some("id=%3Cimg+src%3Dx%3E"), &["id"]).unwrap();
        assert_eq!(params.id("id").unwrap().as_deref(), Some("<img src=x>"));
    }
}
