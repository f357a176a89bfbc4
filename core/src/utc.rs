//! Timestamps in API answers. The database keeps UTC as `NaiveDateTime`; answers carry it
//! as RFC 3339 with the `Z` offset (`2026-11-22T10:00:00.123456Z`), the `date-time` the
//! OpenAPI document promises. Use with `#[serde(with = "caravan_core::utc")]`, or
//! `caravan_core::utc::option` for optional ones.

use chrono::{NaiveDateTime, SecondsFormat};
use serde::{Deserialize, Deserializer, Serializer};

/// `value`, taken as UTC, in RFC 3339 with `Z`.
pub fn rfc3339(value: &NaiveDateTime) -> String {
    value.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub fn serialize<S: Serializer>(value: &NaiveDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(value))
}

/// Reads what `serialize` writes, and the offset-less form stored before.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDateTime, D::Error> {
    parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

fn parse(text: &str) -> Result<NaiveDateTime, chrono::ParseError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|value| value.naive_utc())
        .or_else(|_| text.parse::<NaiveDateTime>())
}

pub mod option {
    use chrono::NaiveDateTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<NaiveDateTime>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| super::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }

    pub fn serialize<S: Serializer>(value: &Option<NaiveDateTime>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_str(&super::rfc3339(value)),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_carry_the_utc_offset() {
        let value = chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
            .and_then(|day| day.and_hms_micro_opt(10, 0, 0, 123_456))
            .expect("a valid time");
        assert_eq!(rfc3339(&value), "2026-11-22T10:00:00.123456Z");
        let whole = chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
            .and_then(|day| day.and_hms_opt(10, 0, 0))
            .expect("a valid time");
        assert_eq!(rfc3339(&whole), "2026-11-22T10:00:00Z");
        assert_eq!(super::parse("2026-11-22T10:00:00Z"), Ok(whole));
        assert_eq!(super::parse("2026-11-22T10:00:00"), Ok(whole));
    }
}
