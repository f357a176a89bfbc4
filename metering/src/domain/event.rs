//! Usage events: CloudEvents 1.0 in JSON, checked attribute by attribute.
//!
//! `id`, `source`, `type` and `specversion` ("1.0") are required; `time` (RFC 3339)
//! defaults to the moment the event arrived; `data` must be an object. `data.capsule`
//! names the capsule the usage belongs to. Sources starting with `caravan/` are reserved
//! for what Caravan records itself (executions).

use caravan_core::db::now;
use chrono::{DateTime, NaiveDateTime, SubsecRound};
use serde_json::{Map, Value};

/// Sources that only Caravan itself writes.
pub const RESERVED_SOURCE_PREFIX: &str = "caravan/";
/// The largest `data` object accepted, serialized.
pub const MAX_DATA_BYTES: usize = 16 * 1024;
const MAX_ATTRIBUTE_CHARS: usize = 256;

/// A usage event that passed every check of its own form.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub subject: Option<String>,
    /// When the usage happened (UTC, microseconds).
    pub time: NaiveDateTime,
    pub data: Value,
    pub capsule: Option<String>,
}

/// Why an event was refused; the message is shown to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("an event must be a JSON object")]
    NotAnObject,
    #[error("`{0}` is required and must be a non-empty string")]
    Missing(&'static str),
    #[error("`{0}` is longer than {MAX_ATTRIBUTE_CHARS} characters")]
    TooLong(&'static str),
    #[error("`specversion` must be \"1.0\"")]
    SpecVersion,
    #[error("`time` must be an RFC 3339 timestamp such as 2026-11-22T10:00:00Z")]
    Time,
    #[error("`data` must be a JSON object")]
    Data,
    #[error("`data` is larger than {MAX_DATA_BYTES} bytes")]
    DataTooLarge,
    #[error("`data.capsule` must name a capsule as `publisher/name`")]
    Capsule,
    #[error("sources starting with `{RESERVED_SOURCE_PREFIX}` are reserved for Caravan's own records")]
    ReservedSource,
}

impl UsageEvent {
    /// Checks an event sent through the API.
    pub fn parse(value: Value) -> Result<Self, EventError> {
        let Value::Object(mut attributes) = value else {
            return Err(EventError::NotAnObject);
        };
        if attributes.get("specversion").and_then(Value::as_str) != Some("1.0") {
            return Err(EventError::SpecVersion);
        }
        let id = required(&attributes, "id")?;
        let source = required(&attributes, "source")?;
        if source.starts_with(RESERVED_SOURCE_PREFIX) {
            return Err(EventError::ReservedSource);
        }
        let event_type = required(&attributes, "type")?;
        let subject = optional(&attributes, "subject")?;
        let time = match attributes.get("time") {
            None | Some(Value::Null) => now(),
            Some(Value::String(text)) => parse_time(text)?,
            Some(_) => return Err(EventError::Time),
        };
        let data = match attributes.remove("data") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(object @ Value::Object(_)) => object,
            Some(_) => return Err(EventError::Data),
        };
        if serde_json::to_string(&data).map_or(true, |text| text.len() > MAX_DATA_BYTES) {
            return Err(EventError::DataTooLarge);
        }
        let capsule = match data.get("capsule") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) if is_capsule_name(name) => Some(name.clone()),
            Some(_) => return Err(EventError::Capsule),
        };
        Ok(Self { id, source, event_type, subject, time, data, capsule })
    }

    /// The event as stored and exported: the CloudEvents attributes Caravan keeps.
    pub fn to_json(&self) -> Value {
        let mut event = Map::new();
        event.insert("specversion".to_owned(), "1.0".into());
        event.insert("id".to_owned(), self.id.clone().into());
        event.insert("source".to_owned(), self.source.clone().into());
        event.insert("type".to_owned(), self.event_type.clone().into());
        if let Some(subject) = &self.subject {
            event.insert("subject".to_owned(), subject.clone().into());
        }
        event.insert(
            "time".to_owned(),
            self.time.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into(),
        );
        event.insert("data".to_owned(), self.data.clone());
        Value::Object(event)
    }
}

fn required(attributes: &Map<String, Value>, name: &'static str) -> Result<String, EventError> {
    optional(attributes, name)?.ok_or(EventError::Missing(name))
}

fn optional(attributes: &Map<String, Value>, name: &'static str) -> Result<Option<String>, EventError> {
    match attributes.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Err(EventError::Missing(name)),
        Some(Value::String(text)) if text.chars().count() > MAX_ATTRIBUTE_CHARS => {
            Err(EventError::TooLong(name))
        }
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(EventError::Missing(name)),
    }
}

fn parse_time(text: &str) -> Result<NaiveDateTime, EventError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.naive_utc().trunc_subsecs(6))
        .map_err(|_| EventError::Time)
}

/// `publisher/name`, each part of lowercase letters, digits and inner `-`.
pub fn is_capsule_name(name: &str) -> bool {
    let part = |text: &str| {
        (1..=64).contains(&text.len())
            && text.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-')
    };
    name.split_once('/').is_some_and(|(publisher, rest)| part(publisher) && part(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "specversion": "1.0", "id": "evt-1", "source": "my-runtime", "type": "caravan.usage",
            "time": "2026-11-22T10:00:00.123456789+01:00", "data": { "tokens_in": 10, "capsule": "acme/echo" }
        })
    }

    #[test]
    fn a_valid_event_parses_with_its_time_in_utc() {
        let parsed = UsageEvent::parse(event()).expect("valid");
        assert_eq!(parsed.time.to_string(), "2026-11-22 09:00:00.123456");
        assert_eq!(parsed.capsule.as_deref(), Some("acme/echo"));
        assert_eq!(parsed.to_json()["time"], "2026-11-22T09:00:00.123456Z");
    }

    #[test]
    fn each_broken_attribute_is_named() {
        let broken = |field: &str, value: Value| {
            let mut event = event();
            event[field] = value;
            UsageEvent::parse(event)
        };
        assert_eq!(broken("specversion", json!("0.3")), Err(EventError::SpecVersion));
        assert_eq!(broken("id", json!("")), Err(EventError::Missing("id")));
        assert_eq!(broken("source", json!(7)), Err(EventError::Missing("source")));
        assert_eq!(broken("time", json!("yesterday")), Err(EventError::Time));
        assert_eq!(broken("data", json!([1])), Err(EventError::Data));
        assert_eq!(broken("data", json!({ "capsule": "Acme/Echo" })), Err(EventError::Capsule));
        assert_eq!(broken("source", json!("caravan/executions")), Err(EventError::ReservedSource));
        assert_eq!(broken("id", json!("x".repeat(300))), Err(EventError::TooLong("id")));
        assert_eq!(UsageEvent::parse(json!([1])), Err(EventError::NotAnObject));
    }
}
