//! Market hours. What the broker port says about them ([`MarketClock`], [`TradingDay`]: Alpaca's
//! `/v2/clock` and `/v2/calendar`), and the NYSE calendar that the paper broker and the
//! simulation carry ([`NyseCalendar`]): regular hours 09:30–16:00 New York time, 13:00 on the
//! early-close days, closed on weekends and the exchange's holidays — computed from the
//! exchange's rules for the years it knows, and an error, never a guess, for any other year.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;
use serde::Serialize;
use thiserror::Error;

/// The market's state at one instant, as the broker's clock gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MarketClock {
    /// The instant the clock was read at.
    pub now: DateTime<Utc>,
    /// Whether the regular session is open now.
    pub is_open: bool,
    /// When the next regular session opens (the current one's open is in the past).
    pub next_open: DateTime<Utc>,
    /// When the current (or, when closed, the next) regular session closes.
    pub next_close: DateTime<Utc>,
}

/// One day the market trades, with its session in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TradingDay {
    /// The date in New York.
    pub date: NaiveDate,
    /// When the regular session opens.
    pub open: DateTime<Utc>,
    /// When it closes (13:00 New York time on early-close days).
    pub close: DateTime<Utc>,
}

impl TradingDay {
    /// Whether `at` falls within the session.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.open <= at && at < self.close
    }

    /// Whether the session closes early (before 16:00 New York time).
    pub fn closes_early(&self) -> bool {
        self.close.with_timezone(&New_York).time() < regular_close()
    }
}

/// What the calendar says of one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "session", rename_all = "snake_case")]
pub enum Session {
    /// The market trades.
    Open(TradingDay),
    /// It does not, and why ("Saturday", "Christmas Day", ...).
    Closed {
        /// The date in New York.
        date: NaiveDate,
        /// Why.
        why: String,
    },
}

/// The calendar cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    /// A year outside the known range: the exchange's holidays for it (and its unscheduled
    /// closures) are not known here.
    #[error("the NYSE calendar of the paper broker covers {first}–{last}; {year} is not known (its holidays and closures may differ): use a date in those years, or a broker with a live calendar (Alpaca)")]
    UnknownYear {
        /// The year asked about.
        year: i32,
        /// The first year known.
        first: i32,
        /// The last year known.
        last: i32,
    },
    /// A date range that ends before it starts, or spans too long.
    #[error("calendar range {from} to {to} is not valid: {why}")]
    Range {
        /// First date.
        from: NaiveDate,
        /// Last date.
        to: NaiveDate,
        /// What is wrong.
        why: &'static str,
    },
}

/// The New York Stock Exchange's calendar for the years it knows: the exchange's rules for its
/// holidays (a holiday on a Saturday is observed the Friday before, on a Sunday the Monday after
/// — except New Year's Day, not observed when it is a Saturday), its early closes (July 3 when
/// it falls Monday to Thursday, the day after Thanksgiving, December 24 when it falls Monday to
/// Thursday), and the unscheduled closures known when this was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NyseCalendar;

/// Unscheduled full-day closures of the known years.
const CLOSURES: [(i32, u32, u32, &str); 1] = [(
    2025,
    1,
    9,
    "National Day of Mourning for President Jimmy Carter",
)];

impl NyseCalendar {
    /// The first year this calendar knows.
    pub const FIRST_YEAR: i32 = 2024;
    /// The last year this calendar knows.
    pub const LAST_YEAR: i32 = 2028;
    /// The longest range [`NyseCalendar::trading_days`] lists at once.
    pub const MAX_RANGE_DAYS: i64 = 400;

    fn known(year: i32) -> Result<(), CalendarError> {
        if (Self::FIRST_YEAR..=Self::LAST_YEAR).contains(&year) {
            Ok(())
        } else {
            Err(CalendarError::UnknownYear {
                year,
                first: Self::FIRST_YEAR,
                last: Self::LAST_YEAR,
            })
        }
    }

    /// What the market does on `date` (a New York date).
    pub fn session(&self, date: NaiveDate) -> Result<Session, CalendarError> {
        Self::known(date.year())?;
        Ok(session_by_rules(date))
    }

    /// The trading days from `from` to `to`, both included.
    pub fn trading_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TradingDay>, CalendarError> {
        trading_days_between(from, to, |day| self.session(day))
    }

    /// The market clock at `now`.
    pub fn clock(&self, now: DateTime<Utc>) -> Result<MarketClock, CalendarError> {
        clock_at(now, |from, to| self.trading_days(from, to))
    }
}

/// The NYSE's rules applied to any year (with the unscheduled closures known so far): the
/// simulated market's calendar, so that a run of any length meets weekends, holidays and
/// early closes as the exchange schedules them (the paper broker keeps [`NyseCalendar`], which
/// refuses a year it does not know rather than guess it for a real account).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NyseRules;

impl NyseRules {
    /// What the market does on `date` (a New York date) by the exchange's rules.
    pub fn session(&self, date: NaiveDate) -> Session {
        session_by_rules(date)
    }

    /// The trading days from `from` to `to`, both included.
    pub fn trading_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TradingDay>, CalendarError> {
        trading_days_between(from, to, |day| Ok(session_by_rules(day)))
    }

    /// The market clock at `now`.
    pub fn clock(&self, now: DateTime<Utc>) -> Result<MarketClock, CalendarError> {
        clock_at(now, |from, to| self.trading_days(from, to))
    }
}

/// The session of `date` by the exchange's rules (weekends, holidays, early closes).
fn session_by_rules(date: NaiveDate) -> Session {
    {
        let closed = |why: &str| Session::Closed {
            date,
            why: why.to_owned(),
        };
        match date.weekday() {
            Weekday::Sat => return closed("Saturday"),
            Weekday::Sun => return closed("Sunday"),
            _ => {}
        }
        if let Some(holiday) = holiday_on(date) {
            return closed(holiday);
        }
        let close = if early_close_on(date) {
            early_close()
        } else {
            regular_close()
        };
        Session::Open(TradingDay {
            date,
            open: new_york(date, regular_open()),
            close: new_york(date, close),
        })
    }
}

/// The trading days from `from` to `to`, both included, by `session`.
fn trading_days_between(
    from: NaiveDate,
    to: NaiveDate,
    session: impl Fn(NaiveDate) -> Result<Session, CalendarError>,
) -> Result<Vec<TradingDay>, CalendarError> {
    if to < from {
        return Err(CalendarError::Range {
            from,
            to,
            why: "it ends before it starts",
        });
    }
    if (to - from).num_days() > NyseCalendar::MAX_RANGE_DAYS {
        return Err(CalendarError::Range {
            from,
            to,
            why: "at most 400 days at a time",
        });
    }
    from.iter_days()
        .take_while(|day| *day <= to)
        .filter_map(|day| match session(day) {
            Ok(Session::Open(trading)) => Some(Ok(trading)),
            Ok(Session::Closed { .. }) => None,
            Err(error) => Some(Err(error)),
        })
        .collect()
}

/// The market clock at `now`, from `trading_days`.
fn clock_at(
    now: DateTime<Utc>,
    trading_days: impl Fn(NaiveDate, NaiveDate) -> Result<Vec<TradingDay>, CalendarError>,
) -> Result<MarketClock, CalendarError> {
    let today = now.with_timezone(&New_York).date_naive();
    // Long weekends and holidays never leave more than a week without a session.
    let days = trading_days(today, today + Duration::days(10))?;
    Ok(MarketClock::from_days(now, &days).expect("a session within ten days"))
}

impl MarketClock {
    /// The clock at `now` from the trading days that start with today's date in New York (in
    /// order); `None` when they hold no session ahead.
    pub fn from_days(now: DateTime<Utc>, days: &[TradingDay]) -> Option<Self> {
        let current = days.iter().find(|day| day.contains(now));
        let next = days.iter().find(|day| day.open > now)?;
        Some(match current {
            Some(session) => Self {
                now,
                is_open: true,
                next_open: next.open,
                next_close: session.close,
            },
            None => Self {
                now,
                is_open: false,
                next_open: next.open,
                next_close: next.close,
            },
        })
    }
}

fn regular_open() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 30, 0).expect("a valid time")
}

fn regular_close() -> NaiveTime {
    NaiveTime::from_hms_opt(16, 0, 0).expect("a valid time")
}

fn early_close() -> NaiveTime {
    NaiveTime::from_hms_opt(13, 0, 0).expect("a valid time")
}

/// `time` on `date` in New York, in UTC. Sessions never start or end in the hour a
/// daylight-saving change skips or repeats (02:00 on a Sunday).
fn new_york(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    New_York
        .from_local_datetime(&date.and_time(time))
        .earliest()
        .expect("market hours exist in New York time")
        .with_timezone(&Utc)
}

/// The `n`-th `weekday` of `month` (n from 1), or the last one for `n == 0`.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> NaiveDate {
    if n == 0 {
        let next_month = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        }
        .expect("a valid date");
        let mut day = next_month - Duration::days(1);
        while day.weekday() != weekday {
            day -= Duration::days(1);
        }
        return day;
    }
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n).expect("a valid date")
}

/// Easter Sunday (the anonymous Gregorian algorithm).
fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("a valid date")
}

/// A fixed-date holiday as the exchange observes it: Saturday → Friday before, Sunday → Monday
/// after.
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date - Duration::days(1),
        Weekday::Sun => date + Duration::days(1),
        _ => date,
    }
}

fn holiday_on(date: NaiveDate) -> Option<&'static str> {
    let year = date.year();
    let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day).expect("a valid date");
    let new_year = fixed(1, 1);
    // New Year's Day on a Saturday is not observed (the year before would lose its last day).
    let new_year_observed = (new_year.weekday() != Weekday::Sat).then(|| observed(new_year));
    let holidays = [
        (new_year_observed, "New Year's Day"),
        (
            Some(nth_weekday(year, 1, Weekday::Mon, 3)),
            "Martin Luther King Jr. Day",
        ),
        (
            Some(nth_weekday(year, 2, Weekday::Mon, 3)),
            "Washington's Birthday",
        ),
        (Some(easter(year) - Duration::days(2)), "Good Friday"),
        (Some(nth_weekday(year, 5, Weekday::Mon, 0)), "Memorial Day"),
        (Some(observed(fixed(6, 19))), "Juneteenth"),
        (Some(observed(fixed(7, 4))), "Independence Day"),
        (Some(nth_weekday(year, 9, Weekday::Mon, 1)), "Labor Day"),
        (
            Some(nth_weekday(year, 11, Weekday::Thu, 4)),
            "Thanksgiving Day",
        ),
        (Some(observed(fixed(12, 25))), "Christmas Day"),
    ];
    holidays
        .iter()
        .find(|(day, _)| *day == Some(date))
        .map(|(_, name)| *name)
        .or_else(|| {
            CLOSURES
                .iter()
                .find(|(y, m, d, _)| NaiveDate::from_ymd_opt(*y, *m, *d) == Some(date))
                .map(|(.., why)| *why)
        })
}

fn early_close_on(date: NaiveDate) -> bool {
    let year = date.year();
    let monday_to_thursday = |day: NaiveDate| {
        matches!(
            day.weekday(),
            Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu
        )
    };
    let july_3 = NaiveDate::from_ymd_opt(year, 7, 3).expect("a valid date");
    let christmas_eve = NaiveDate::from_ymd_opt(year, 12, 24).expect("a valid date");
    let black_friday = nth_weekday(year, 11, Weekday::Thu, 4) + Duration::days(1);
    date == black_friday
        || (date == july_3 && monday_to_thursday(date))
        || (date == christmas_eve && monday_to_thursday(date))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn why(text: &str) -> String {
        match NyseCalendar.session(date(text)).unwrap() {
            Session::Closed { why, .. } => why,
            Session::Open(day) => panic!("{text} trades: {day:?}"),
        }
    }

    fn close_of(text: &str) -> String {
        match NyseCalendar.session(date(text)).unwrap() {
            Session::Open(day) => day.close.to_rfc3339(),
            Session::Closed { why, .. } => panic!("{text} is closed: {why}"),
        }
    }

    #[test]
    fn the_exchanges_holidays_as_published() {
        // NYSE's published holidays, 2024 to 2028, with the observed days.
        let holidays = [
            ("2024-01-01", "New Year's Day"),
            ("2024-03-29", "Good Friday"),
            ("2024-06-19", "Juneteenth"),
            (
                "2025-01-09",
                "National Day of Mourning for President Jimmy Carter",
            ),
            ("2025-01-20", "Martin Luther King Jr. Day"),
            ("2025-04-18", "Good Friday"),
            ("2025-11-27", "Thanksgiving Day"),
            ("2026-01-01", "New Year's Day"),
            ("2026-02-16", "Washington's Birthday"),
            ("2026-04-03", "Good Friday"),
            ("2026-05-25", "Memorial Day"),
            ("2026-07-03", "Independence Day"),
            ("2026-09-07", "Labor Day"),
            ("2026-12-25", "Christmas Day"),
            ("2027-03-26", "Good Friday"),
            ("2027-06-18", "Juneteenth"),
            ("2027-07-05", "Independence Day"),
            ("2027-12-24", "Christmas Day"),
            ("2028-04-14", "Good Friday"),
            ("2028-12-25", "Christmas Day"),
        ];
        for (day, name) in holidays {
            assert_eq!(why(day), name, "{day}");
        }
        // New Year's Day 2028 is a Saturday: not observed on Friday 2027-12-31.
        assert!(matches!(
            NyseCalendar.session(date("2027-12-31")).unwrap(),
            Session::Open(_)
        ));
        assert_eq!(why("2026-12-05"), "Saturday");
    }

    #[test]
    fn early_closes_at_one_in_new_york_across_daylight_saving() {
        // Day after Thanksgiving (EST: 18:00 UTC), July 3 (EDT: 17:00 UTC), Christmas Eve.
        assert_eq!(close_of("2026-11-27"), "2026-11-27T18:00:00+00:00");
        assert_eq!(close_of("2025-07-03"), "2025-07-03T17:00:00+00:00");
        assert_eq!(close_of("2026-12-24"), "2026-12-24T18:00:00+00:00");
        assert_eq!(close_of("2028-07-03"), "2028-07-03T17:00:00+00:00");
        // July 3, 2026 is the observed holiday; July 2 closes as usual (EDT).
        assert_eq!(close_of("2026-07-02"), "2026-07-02T20:00:00+00:00");
        // A regular winter day closes at 21:00 UTC.
        assert_eq!(close_of("2026-12-01"), "2026-12-01T21:00:00+00:00");
        // The Monday after the spring change opens at 13:30 UTC, the Friday before at 14:30.
        let monday = NyseCalendar
            .trading_days(date("2026-03-06"), date("2026-03-09"))
            .unwrap();
        assert_eq!(monday[0].open.to_rfc3339(), "2026-03-06T14:30:00+00:00");
        assert_eq!(monday[1].open.to_rfc3339(), "2026-03-09T13:30:00+00:00");
    }

    #[test]
    fn the_clock_follows_the_sessions() {
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().to_utc();
        // Friday before Christmas 2026 (a Friday holiday): closed Thursday 13:00 to Monday.
        let clock = NyseCalendar.clock(at("2026-12-24T18:00:00Z")).unwrap();
        assert!(!clock.is_open, "{clock:?}");
        assert_eq!(clock.next_open, at("2026-12-28T14:30:00Z"));
        let clock = NyseCalendar.clock(at("2026-12-24T17:59:59Z")).unwrap();
        assert!(clock.is_open);
        assert_eq!(clock.next_close, at("2026-12-24T18:00:00Z"));
        // One second before the open, and at the open.
        assert!(
            !NyseCalendar
                .clock(at("2026-12-01T14:29:59Z"))
                .unwrap()
                .is_open
        );
        assert!(
            NyseCalendar
                .clock(at("2026-12-01T14:30:00Z"))
                .unwrap()
                .is_open
        );
    }

    #[test]
    fn a_year_it_does_not_know_is_an_error_naming_the_years_it_does() {
        let error = NyseCalendar.session(date("2029-01-02")).unwrap_err();
        assert!(error.to_string().contains("2024–2028"), "{error}");
        assert!(error.to_string().contains("2029"), "{error}");
        // The last days of the last year still need the next year's first session.
        assert!(NyseCalendar
            .clock(
                DateTime::parse_from_rfc3339("2028-12-29T22:00:00Z")
                    .unwrap()
                    .to_utc()
            )
            .is_err());
        let error = NyseCalendar
            .trading_days(date("2026-02-01"), date("2026-01-01"))
            .unwrap_err();
        assert!(
            error.to_string().contains("ends before it starts"),
            "{error}"
        );
    }

    #[test]
    fn the_rules_are_the_calendar_in_the_known_years_and_go_on_after_them() {
        let mut day = NaiveDate::from_ymd_opt(NyseCalendar::FIRST_YEAR, 1, 1).unwrap();
        while day.year() <= NyseCalendar::LAST_YEAR {
            assert_eq!(
                NyseCalendar.session(day).unwrap(),
                NyseRules.session(day),
                "{day}"
            );
            day = day.succ_opt().unwrap();
        }
        let after = |y, m, d| NyseRules.session(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        assert!(NyseCalendar
            .session(NaiveDate::from_ymd_opt(2031, 12, 25).unwrap())
            .is_err());
        assert!(
            matches!(after(2031, 12, 25), Session::Closed { .. }),
            "Christmas 2031"
        );
        assert!(
            matches!(after(2031, 4, 11), Session::Closed { .. }),
            "Good Friday 2031"
        );
        assert!(
            matches!(after(2031, 11, 28), Session::Open(day) if day.closes_early()),
            "after Thanksgiving 2031"
        );
        assert!(
            NyseRules
                .clock(
                    NaiveDate::from_ymd_opt(2040, 6, 5)
                        .unwrap()
                        .and_hms_opt(15, 0, 0)
                        .unwrap()
                        .and_utc()
                )
                .unwrap()
                .is_open
        );
    }
}
