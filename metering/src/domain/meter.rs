//! Meters: which events count, how their values aggregate, and how they group.
//!
//! The five built-in meters read the same-named field of `data` in events of type
//! [`USAGE_EVENT_TYPE`] and sum it. Operators add meters in configuration
//! (`[[metering.meters]]`): an event type, an aggregation (`sum`, `count`, `max`,
//! `unique_count`) over a property of `data`, and group-by fields.

use caravan_core::money::{Decimal, MoneyError, quantity_to_micros};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;
use utoipa::ToSchema;

/// The event type the built-in meters read.
pub const USAGE_EVENT_TYPE: &str = "caravan.usage";

/// The built-in meters, each summing the `data` field of its own name.
pub const BUILT_IN_METERS: [(&str, &str); 5] = [
    ("executions", "Capsule executions"),
    ("tokens_in", "Input tokens"),
    ("tokens_out", "Output tokens"),
    ("tool_calls", "Tool calls"),
    ("job_seconds", "Seconds of job time"),
];

/// How a meter combines the values of its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    Sum,
    Count,
    Max,
    UniqueCount,
}

impl Aggregation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Count => "count",
            Self::Max => "max",
            Self::UniqueCount => "unique_count",
        }
    }
}

/// A meter as the operator writes it in `[[metering.meters]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterDefinition {
    /// `[a-z0-9_]`, 1 to 64 characters; the name in prices, usage queries and invoices.
    pub slug: String,
    #[serde(default)]
    pub description: String,
    /// The CloudEvents `type` this meter reads.
    pub event_type: String,
    pub aggregation: Aggregation,
    /// Dotted path into `data` (`usage.total_tokens`); required except for `count`.
    pub value_property: Option<String>,
    /// Group-by field name → dotted path into `data`.
    #[serde(default)]
    pub group_by: BTreeMap<String, String>,
}

/// A validated meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    pub slug: String,
    pub description: String,
    pub event_type: String,
    pub aggregation: Aggregation,
    value_property: Option<PropertyPath>,
    group_by: Vec<(String, PropertyPath)>,
}

/// What one event contributes to one meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub meter: String,
    /// Millionths of a unit; 1 000 000 for a counted event.
    pub quantity_micros: i64,
    /// The group-by values as canonical JSON (`{"model":"gpt"}`), or empty.
    pub group_key: String,
    /// The value counted once by a `unique_count` meter.
    pub unique_value: Option<String>,
}

/// Why an event's data does not fit a meter it matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadingError {
    #[error("data.{property} must be a non-negative number, for meter `{meter}`")]
    NotANumber { meter: String, property: String },
    #[error("data.{property} for meter `{meter}`: {source}")]
    Quantity { meter: String, property: String, source: MoneyError },
    #[error("data.{property} must be a string or a number, for meter `{meter}`")]
    NotAValue { meter: String, property: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeterConfigError {
    #[error("meter slug `{0}` must be 1 to 64 characters of a-z, 0-9 and `_`")]
    InvalidSlug(String),
    #[error("meter `{0}` is defined twice (the built-in meters are {1})")]
    Duplicate(String, String),
    #[error("meter `{0}`: `{1}` is not a dotted path of `data` fields")]
    InvalidPath(String, String),
    #[error("meter `{0}` needs `value_property` for aggregation `{1}`")]
    MissingValue(String, &'static str),
    #[error("meter `{0}` needs an `event_type`")]
    MissingEventType(String),
    #[error(
        "meter `{0}`: group-by name `{1}` is reserved or invalid (use a-z, 0-9 and `_`; not capsule, key or tenant)"
    )]
    InvalidGroupName(String, String),
    #[error("plan `{plan}` prices unknown meter `{meter}`")]
    UnknownPricedMeter { plan: String, meter: String },
}

/// A dotted path into an event's `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PropertyPath(Vec<String>);

impl PropertyPath {
    fn parse(text: &str) -> Option<Self> {
        let parts: Vec<String> = text.split('.').map(str::to_owned).collect();
        let valid = |part: &String| {
            !part.is_empty()
                && part.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
        };
        (parts.iter().all(valid) && parts.len() <= 8).then_some(Self(parts))
    }

    fn lookup<'a>(&self, data: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(data, |value, part| value.get(part)).filter(|value| !value.is_null())
    }

    fn display(&self) -> String {
        self.0.join(".")
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// Group-by names every meter has without declaring them.
pub const UNIVERSAL_GROUPS: [&str; 2] = ["capsule", "key"];

impl Meter {
    pub fn from_definition(definition: &MeterDefinition) -> Result<Self, MeterConfigError> {
        let slug = definition.slug.clone();
        if !valid_name(&slug) {
            return Err(MeterConfigError::InvalidSlug(slug));
        }
        if definition.event_type.trim().is_empty() {
            return Err(MeterConfigError::MissingEventType(slug));
        }
        let path = |text: &str| {
            PropertyPath::parse(text)
                .ok_or_else(|| MeterConfigError::InvalidPath(slug.clone(), text.to_owned()))
        };
        let value_property = definition.value_property.as_deref().map(path).transpose()?;
        if value_property.is_none() && definition.aggregation != Aggregation::Count {
            return Err(MeterConfigError::MissingValue(slug, definition.aggregation.as_str()));
        }
        let mut group_by = Vec::new();
        for (name, property) in &definition.group_by {
            if !valid_name(name) || UNIVERSAL_GROUPS.contains(&name.as_str()) || name == "tenant" {
                return Err(MeterConfigError::InvalidGroupName(slug, name.clone()));
            }
            group_by.push((name.clone(), path(property)?));
        }
        Ok(Self {
            slug,
            description: definition.description.clone(),
            event_type: definition.event_type.clone(),
            aggregation: definition.aggregation,
            value_property,
            group_by,
        })
    }

    fn built_in(slug: &str, description: &str) -> Self {
        Self {
            slug: slug.to_owned(),
            description: description.to_owned(),
            event_type: USAGE_EVENT_TYPE.to_owned(),
            aggregation: Aggregation::Sum,
            value_property: Some(PropertyPath(vec![slug.to_owned()])),
            group_by: Vec::new(),
        }
    }

    pub fn value_property(&self) -> Option<String> {
        self.value_property.as_ref().map(PropertyPath::display)
    }

    /// The declared group-by names, in order.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.group_by.iter().map(|(name, _)| name.as_str())
    }

    /// What an event of this meter's type contributes: `None` when its data lacks the
    /// value property (the event feeds other meters only).
    pub fn read(&self, data: &Value) -> Result<Option<Reading>, ReadingError> {
        let group_key = self.group_key(data);
        let reading = |quantity_micros, unique_value| Reading {
            meter: self.slug.clone(),
            quantity_micros,
            group_key: group_key.clone(),
            unique_value,
        };
        let Some(property) = &self.value_property else {
            return Ok(Some(reading(1_000_000, None)));
        };
        let Some(value) = property.lookup(data) else {
            return Ok(if self.aggregation == Aggregation::Count {
                Some(reading(1_000_000, None))
            } else {
                None
            });
        };
        match self.aggregation {
            Aggregation::Count => Ok(Some(reading(1_000_000, None))),
            Aggregation::UniqueCount => {
                let unique = match value {
                    Value::String(text) => text.clone(),
                    Value::Number(number) => number.to_string(),
                    _ => {
                        return Err(ReadingError::NotAValue {
                            meter: self.slug.clone(),
                            property: property.display(),
                        });
                    }
                };
                Ok(Some(reading(1_000_000, Some(unique))))
            }
            Aggregation::Sum | Aggregation::Max => {
                let quantity = decimal_of(value).ok_or_else(|| ReadingError::NotANumber {
                    meter: self.slug.clone(),
                    property: property.display(),
                })?;
                let micros = quantity_to_micros(quantity).map_err(|source| ReadingError::Quantity {
                    meter: self.slug.clone(),
                    property: property.display(),
                    source,
                })?;
                Ok(Some(reading(micros, None)))
            }
        }
    }

    fn group_key(&self, data: &Value) -> String {
        if self.group_by.is_empty() {
            return String::new();
        }
        let values: BTreeMap<&str, String> = self
            .group_by
            .iter()
            .map(|(name, path)| {
                let value = match path.lookup(data) {
                    Some(Value::String(text)) => text.chars().take(200).collect(),
                    Some(other @ (Value::Number(_) | Value::Bool(_))) => other.to_string(),
                    _ => String::new(),
                };
                (name.as_str(), value)
            })
            .collect();
        serde_json::to_string(&values).unwrap_or_default()
    }
}

/// A JSON number, or a string holding one, as an exact decimal.
pub fn decimal_of(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.trim().to_owned(),
        _ => return None,
    };
    Decimal::from_str(&text).ok().or_else(|| Decimal::from_scientific(&text).ok())
}

/// Every meter: the built-ins and the operator's.
#[derive(Debug, Clone)]
pub struct MeterCatalog {
    meters: Vec<Meter>,
}

impl MeterCatalog {
    pub fn new(definitions: &[MeterDefinition]) -> Result<Self, MeterConfigError> {
        let mut meters: Vec<Meter> =
            BUILT_IN_METERS.iter().map(|(slug, description)| Meter::built_in(slug, description)).collect();
        for definition in definitions {
            let meter = Meter::from_definition(definition)?;
            if meters.iter().any(|known| known.slug == meter.slug) {
                let built_in = BUILT_IN_METERS.map(|(slug, _)| slug).join(", ");
                return Err(MeterConfigError::Duplicate(meter.slug, built_in));
            }
            meters.push(meter);
        }
        Ok(Self { meters })
    }

    pub fn get(&self, slug: &str) -> Option<&Meter> {
        self.meters.iter().find(|meter| meter.slug == slug)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Meter> {
        self.meters.iter()
    }

    /// The meters reading events of `event_type`.
    pub fn for_event_type<'a>(&'a self, event_type: &'a str) -> impl Iterator<Item = &'a Meter> + 'a {
        self.meters.iter().filter(move |meter| meter.event_type == event_type)
    }

    /// Slugs, for error messages.
    pub fn slugs(&self) -> String {
        self.meters.iter().map(|meter| meter.slug.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Checks that every plan prices only meters that exist.
    pub fn check_plans(&self, plans: &caravan_core::plans::PlanCatalog) -> Result<(), MeterConfigError> {
        for (plan, definition) in plans.iter() {
            if let Some(meter) = definition.prices.keys().find(|meter| self.get(meter).is_none()) {
                return Err(MeterConfigError::UnknownPricedMeter {
                    plan: plan.to_owned(),
                    meter: meter.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn operator_meter(aggregation: Aggregation, value: Option<&str>) -> Meter {
        Meter::from_definition(&MeterDefinition {
            slug: "llm".to_owned(),
            description: String::new(),
            event_type: "llm.request".to_owned(),
            aggregation,
            value_property: value.map(str::to_owned),
            group_by: BTreeMap::from([("model".to_owned(), "model".to_owned())]),
        })
        .expect("meter")
    }

    #[test]
    fn built_in_meters_sum_their_own_field_and_skip_events_without_it() {
        let catalog = MeterCatalog::new(&[]).expect("catalog");
        let tokens = catalog.get("tokens_in").expect("tokens_in");
        let read = tokens.read(&json!({ "tokens_in": 1200, "capsule": "acme/echo" })).expect("valid");
        assert_eq!(read.map(|reading| reading.quantity_micros), Some(1_200_000_000));
        assert_eq!(tokens.read(&json!({ "tokens_out": 3 })), Ok(None));
        let seconds = catalog.get("job_seconds").expect("job_seconds");
        let read = seconds.read(&json!({ "job_seconds": "1.250001" })).expect("valid");
        assert_eq!(read.map(|reading| reading.quantity_micros), Some(1_250_001));
    }

    #[test]
    fn values_that_are_not_exact_non_negative_numbers_are_refused() {
        let catalog = MeterCatalog::new(&[]).expect("catalog");
        let tokens = catalog.get("tokens_in").expect("tokens_in");
        for bad in [
            json!({ "tokens_in": -1 }),
            json!({ "tokens_in": "many" }),
            json!({ "tokens_in": 0.0000001 }),
            json!({ "tokens_in": [1] }),
        ] {
            assert!(tokens.read(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn operator_meters_count_group_and_count_unique_values() {
        let count = operator_meter(Aggregation::Count, None);
        let read = count.read(&json!({ "model": "small" })).expect("valid").expect("reading");
        assert_eq!(read.quantity_micros, 1_000_000);
        assert_eq!(read.group_key, r#"{"model":"small"}"#);
        let unique = operator_meter(Aggregation::UniqueCount, Some("user.id"));
        let read = unique.read(&json!({ "user": { "id": 42 } })).expect("valid").expect("reading");
        assert_eq!(read.unique_value.as_deref(), Some("42"));
    }

    #[test]
    fn bad_definitions_and_unknown_priced_meters_are_refused() {
        let definition = |slug: &str, aggregation, value: Option<&str>| MeterDefinition {
            slug: slug.to_owned(),
            description: String::new(),
            event_type: "x".to_owned(),
            aggregation,
            value_property: value.map(str::to_owned),
            group_by: BTreeMap::new(),
        };
        assert!(MeterCatalog::new(&[definition("Bad-Slug", Aggregation::Count, None)]).is_err());
        assert!(MeterCatalog::new(&[definition("tokens_in", Aggregation::Count, None)]).is_err());
        assert!(MeterCatalog::new(&[definition("gb", Aggregation::Sum, None)]).is_err());
        assert!(MeterCatalog::new(&[definition("gb", Aggregation::Sum, Some("a..b"))]).is_err());
        let plans = caravan_core::plans::PlanCatalog::parse(
            "[plans.x]\nname='X'\nkey_requests_per_minute=1\nkey_burst=1\ntenant_requests_per_minute=1\ntenant_burst=1\n\
             [plans.x.prices.nope]\nmodel='per_unit'\nunit_price='1'\n",
        )
        .expect("plans");
        assert!(MeterCatalog::new(&[]).expect("catalog").check_plans(&plans).is_err());
    }
}
