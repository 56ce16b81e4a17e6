//! When the strategy runs: `STRATEGY_RUN_AT` (`{"anchor": "close"|"open", "offsetMinutes": N}`,
//! default 15 minutes before the close, as the Python system does) against the broker's
//! calendar. The stage's schedule fires at every candidate time — New York time, Monday to
//! Friday: 16:00 − N and 13:00 − N (the early closes) for `close`, 09:30 + N for `open`
//! (infra/lib/strategy-schedule.ts) — and [`todays_run`] says whether this tick is today's run:
//! never on a day without a session, once on an early-close day, and right across daylight
//! saving time because both the crons and the calendar are in New York time.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::America::New_York;
use serde::Deserialize;
use thiserror::Error;

use crate::market::{NyseCalendar, Session, TradingDay};

/// How late a tick may come after the run time and still be today's run: Lambda's retries of a
/// failed start come 1 and 2 minutes later, and a start later than this would leave the plan
/// too little of the session before the close.
pub const RUN_WINDOW: TimeDelta = TimeDelta::minutes(10);
/// How early: the scheduler fires on the minute, and the function's clock may be a little
/// ahead.
pub const RUN_EARLY: TimeDelta = TimeDelta::minutes(1);

/// What the run time is anchored to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Anchor {
    /// Minutes before the day's (possibly early) close.
    Close,
    /// Minutes after the day's open.
    Open,
}

/// The strategy's run time on a trading day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunAt {
    /// Close or open.
    pub anchor: Anchor,
    /// Minutes before the close, or after the open.
    #[serde(rename = "offsetMinutes")]
    pub offset_minutes: u32,
}

impl Default for RunAt {
    /// 15 minutes before the close.
    fn default() -> Self {
        Self {
            anchor: Anchor::Close,
            offset_minutes: 15,
        }
    }
}

/// `STRATEGY_RUN_AT` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("STRATEGY_RUN_AT=`{value}` is not valid: {why} (expected {{\"anchor\": \"close\" | \"open\", \"offsetMinutes\": N}}, N from 1 to 210 before the close or 0 to 209 after the open)")]
pub struct RunAtError {
    /// The value.
    pub value: String,
    /// What is wrong.
    pub why: String,
}

impl RunAt {
    /// Reads `STRATEGY_RUN_AT`'s JSON, with the ranges the stage config allows: before the
    /// close, 1 to 210 minutes (no earlier than the open of an early-close day); after the open,
    /// 0 to 209 (before an early close).
    pub fn from_json(text: &str) -> Result<Self, RunAtError> {
        let error = |why: String| RunAtError {
            value: text.to_owned(),
            why,
        };
        let run_at: RunAt = serde_json::from_str(text).map_err(|e| error(e.to_string()))?;
        let (min, max) = match run_at.anchor {
            Anchor::Close => (1, 210),
            Anchor::Open => (0, 209),
        };
        if !(min..=max).contains(&run_at.offset_minutes) {
            return Err(error(format!(
                "offsetMinutes {} is outside {min}..={max}",
                run_at.offset_minutes
            )));
        }
        Ok(run_at)
    }

    /// The run time on `day`.
    pub fn on(&self, day: &TradingDay) -> DateTime<Utc> {
        let offset = TimeDelta::minutes(i64::from(self.offset_minutes));
        match self.anchor {
            Anchor::Close => day.close - offset,
            Anchor::Open => day.open + offset,
        }
    }
}

impl fmt::Display for RunAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.anchor {
            Anchor::Close => write!(f, "{} min before the close", self.offset_minutes),
            Anchor::Open => write!(f, "{} min after the open", self.offset_minutes),
        }
    }
}

/// Whether a scheduled tick at `now` is today's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunDecision {
    /// Start the workflow.
    Run,
    /// Start nothing, for this reason (`market closed: Christmas Day`, `not today's run time:
    /// ...`).
    Skip(String),
}

/// The New York date of `now`.
pub fn new_york_date(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&New_York).date_naive()
}

/// Midnight New York time of the day of `now` (the start of a trading day's count of orders).
pub fn new_york_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    new_york_date(now)
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(New_York).earliest())
        .map_or(now, |t| t.to_utc())
}

/// Decides a tick at `now` from `sessions`, the broker's trading days for today's New York date
/// (empty: no session today).
pub fn todays_run(run_at: RunAt, now: DateTime<Utc>, sessions: &[TradingDay]) -> RunDecision {
    let today = new_york_date(now);
    let Some(day) = sessions.iter().find(|day| day.date == today) else {
        return RunDecision::Skip(format!("market closed: {}", closed_why(today)));
    };
    let run = run_at.on(day);
    if now >= run - RUN_EARLY && now < run + RUN_WINDOW {
        return RunDecision::Run;
    }
    let anchor = match run_at.anchor {
        Anchor::Close if day.closes_early() => {
            format!("today's close is {} (early close)", hhmm(day.close))
        }
        Anchor::Close => format!("today's close is {}", hhmm(day.close)),
        Anchor::Open => format!("today's open is {}", hhmm(day.open)),
    };
    RunDecision::Skip(format!(
        "not today's run time: {anchor}, so the run is at {} New York time ({run_at}); this tick is at {}",
        hhmm(run),
        hhmm(now)
    ))
}

/// Why the market is closed on `date`: the exchange's reason when the NYSE calendar knows the
/// year (Alpaca's calendar lists sessions only), the weekday otherwise.
fn closed_why(date: NaiveDate) -> String {
    match NyseCalendar.session(date) {
        Ok(Session::Closed { why, .. }) => why,
        _ => format!("no session on {date} in the broker's calendar"),
    }
}

fn hhmm(at: DateTime<Utc>) -> String {
    at.with_timezone(&New_York).format("%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn decide(run_at: RunAt, now: &str) -> RunDecision {
        let now = at(now);
        let today = new_york_date(now);
        let sessions = NyseCalendar.trading_days(today, today).unwrap();
        todays_run(run_at, now, &sessions)
    }

    fn skipped(decision: RunDecision) -> String {
        match decision {
            RunDecision::Skip(why) => why,
            RunDecision::Run => panic!("expected a skip"),
        }
    }

    #[test]
    fn the_close_anchor_runs_once_a_day_early_closes_and_daylight_saving_included() {
        let close = RunAt::default();
        // A regular day in winter (EST): 15:45 New York is 20:45 UTC; the 12:45 tick skips.
        assert_eq!(decide(close, "2026-12-01T20:45:00Z"), RunDecision::Run);
        let why = skipped(decide(close, "2026-12-01T17:45:00Z"));
        assert!(
            why.contains("today's close is 16:00") && why.contains("15:45"),
            "{why}"
        );
        // In summer (EDT) the same New York time is 19:45 UTC.
        assert_eq!(decide(close, "2026-07-01T19:45:00Z"), RunDecision::Run);
        // The day after Thanksgiving closes at 13:00: the 12:45 tick runs, the 15:45 one skips.
        assert_eq!(decide(close, "2026-11-27T17:45:00Z"), RunDecision::Run);
        let why = skipped(decide(close, "2026-11-27T20:45:00Z"));
        assert_eq!(
            why,
            "not today's run time: today's close is 13:00 (early close), so the run is at 12:45 New York time (15 min before the close); this tick is at 15:45"
        );
    }

    #[test]
    fn days_without_a_session_say_why() {
        let close = RunAt::default();
        assert_eq!(
            skipped(decide(close, "2026-12-25T20:45:00Z")),
            "market closed: Christmas Day"
        );
        assert_eq!(
            skipped(decide(close, "2026-12-05T20:45:00Z")),
            "market closed: Saturday"
        );
        // A broker whose calendar has no session on a day the NYSE calendar does not know.
        let why = skipped(todays_run(close, at("2031-03-03T20:45:00Z"), &[]));
        assert!(why.contains("no session on 2031-03-03"), "{why}");
    }

    #[test]
    fn the_run_window_at_its_edges() {
        let close = RunAt::default();
        // Run at 20:45 UTC: from a minute early to just under ten minutes late.
        assert_eq!(decide(close, "2026-12-01T20:44:00Z"), RunDecision::Run);
        assert!(matches!(
            decide(close, "2026-12-01T20:43:59Z"),
            RunDecision::Skip(_)
        ));
        assert_eq!(decide(close, "2026-12-01T20:54:59Z"), RunDecision::Run);
        assert!(matches!(
            decide(close, "2026-12-01T20:55:00Z"),
            RunDecision::Skip(_)
        ));
    }

    #[test]
    fn a_trading_day_counts_from_midnight_in_new_york() {
        // 03:00 UTC on 2 December is still 1 December in New York (EST).
        assert_eq!(
            new_york_midnight(at("2026-12-02T03:00:00Z")),
            at("2026-12-01T05:00:00Z")
        );
        assert_eq!(
            new_york_midnight(at("2026-07-01T19:45:00Z")),
            at("2026-07-01T04:00:00Z")
        );
    }

    #[test]
    fn the_open_anchor() {
        let open = RunAt::from_json(r#"{"anchor": "open", "offsetMinutes": 30}"#).unwrap();
        // 10:00 New York in winter is 15:00 UTC.
        assert_eq!(decide(open, "2026-12-01T15:00:00Z"), RunDecision::Run);
        let why = skipped(decide(open, "2026-12-01T16:00:00Z"));
        assert!(
            why.contains("today's open is 09:30") && why.contains("10:00"),
            "{why}"
        );
    }

    #[test]
    fn run_at_settings_are_read_with_the_stage_configs_ranges() {
        assert_eq!(
            RunAt::from_json(r#"{"anchor": "close", "offsetMinutes": 15}"#).unwrap(),
            RunAt::default()
        );
        for (text, ok) in [
            (r#"{"anchor": "close", "offsetMinutes": 1}"#, true),
            (r#"{"anchor": "close", "offsetMinutes": 0}"#, false),
            (r#"{"anchor": "close", "offsetMinutes": 210}"#, true),
            (r#"{"anchor": "close", "offsetMinutes": 211}"#, false),
            (r#"{"anchor": "open", "offsetMinutes": 0}"#, true),
            (r#"{"anchor": "open", "offsetMinutes": 209}"#, true),
            (r#"{"anchor": "open", "offsetMinutes": 210}"#, false),
            (r#"{"anchor": "noon", "offsetMinutes": 5}"#, false),
            (
                r#"{"anchor": "close", "offsetMinutes": 5, "tz": "UTC"}"#,
                false,
            ),
            ("15", false),
        ] {
            let parsed = RunAt::from_json(text);
            assert_eq!(parsed.is_ok(), ok, "{text}: {parsed:?}");
            if let Err(error) = parsed {
                assert!(error.to_string().starts_with("STRATEGY_RUN_AT="), "{error}");
            }
        }
    }
}
