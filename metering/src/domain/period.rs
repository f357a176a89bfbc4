//! Billing periods: calendar months in UTC, written `YYYY-MM`.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One calendar month in UTC, the unit of billing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    year: i32,
    month: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a billing period: use YYYY-MM, e.g. 2026-11")]
pub struct InvalidPeriod(pub String);

impl Period {
    pub fn parse(text: &str) -> Result<Self, InvalidPeriod> {
        let invalid = || InvalidPeriod(text.to_owned());
        let (year, month) = text.split_once('-').ok_or_else(invalid)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(invalid());
        }
        let year: i32 = year.parse().map_err(|_| invalid())?;
        let month: u32 = month.parse().map_err(|_| invalid())?;
        if !(1970..=9998).contains(&year) || !(1..=12).contains(&month) {
            return Err(invalid());
        }
        Ok(Self { year, month })
    }

    /// The period `time` falls in.
    pub fn containing(time: NaiveDateTime) -> Self {
        Self { year: time.year(), month: time.month() }
    }

    /// The first instant of the period.
    pub fn start(self) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default().and_time(chrono::NaiveTime::MIN)
    }

    /// The first instant after the period.
    pub fn end(self) -> NaiveDateTime {
        self.next().start()
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self { year: self.year + 1, month: 1 }
        } else {
            Self { month: self.month + 1, ..self }
        }
    }

    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self { year: self.year - 1, month: 12 }
        } else {
            Self { month: self.month - 1, ..self }
        }
    }

    /// A number unique to the period (`202611`), for lock keys.
    pub fn ordinal(self) -> i64 {
        i64::from(self.year) * 100 + i64::from(self.month)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl TryFrom<String> for Period {
    type Error = InvalidPeriod;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Period> for String {
    fn from(period: Period) -> Self {
        period.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_calendar_months() {
        let november = Period::parse("2026-11").expect("period");
        assert_eq!(november.to_string(), "2026-11");
        assert_eq!(november.start().to_string(), "2026-11-01 00:00:00");
        assert_eq!(november.end().to_string(), "2026-12-01 00:00:00");
        assert_eq!(Period::parse("2026-12").expect("period").next().to_string(), "2027-01");
        assert_eq!(Period::parse("2027-01").expect("period").previous().to_string(), "2026-12");
        assert_eq!(Period::containing(november.end()), november.next());
    }

    #[test]
    fn malformed_periods_are_refused() {
        for bad in ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "", "2026-11-01", "abcd-ef"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }
}
