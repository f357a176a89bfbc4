//! `capsule.toml`, parsed into types that are valid by construction: a `publisher/name`,
//! a semver version, an SPDX license expression, known categories, a runtime with a safe
//! relative entrypoint and a tier, JSON Schemas for input and output, and an optional
//! per-execution price as an exact decimal.

use super::CapsuleError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Categories a capsule may list; search facets use the same names.
pub const CATEGORIES: &[&str] = &[
    "agents",
    "audio",
    "coding",
    "data",
    "devops",
    "finance",
    "productivity",
    "research",
    "security",
    "text",
    "utilities",
    "vision",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub name: CapsuleName,
    pub version: semver::Version,
    pub description: String,
    /// A valid SPDX license expression, as written.
    pub license: String,
    pub keywords: Vec<String>,
    pub categories: Vec<Category>,
    pub repository: Option<url::Url>,
    pub runtime: Runtime,
    pub input_schema: Option<serde_json::Value>,
    pub output_schema: Option<serde_json::Value>,
    pub tools: Vec<Tool>,
    pub pricing: Option<Pricing>,
}

/// `publisher/name`, each part 1–64 characters of `[a-z0-9-]`, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CapsuleName {
    publisher: String,
    name: String,
}

impl CapsuleName {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (publisher, name) =
            text.split_once('/').ok_or_else(|| format!("`{text}` is not of the form publisher/name"))?;
        for part in [publisher, name] {
            if !Self::is_valid_part(part) {
                return Err(format!(
                    "`{part}` in `{text}` must be 1 to 64 characters of a-z, 0-9 and inner `-`"
                ));
            }
        }
        Ok(Self { publisher: publisher.to_owned(), name: name.to_owned() })
    }

    /// A publisher (namespace) or capsule name: 1–64 characters of `[a-z0-9-]`, not
    /// starting or ending with `-`.
    pub fn is_valid_part(part: &str) -> bool {
        (1..=64).contains(&part.len())
            && part.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
            && !part.starts_with('-')
            && !part.ends_with('-')
    }

    pub fn publisher(&self) -> &str {
        &self.publisher
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Serialize for CapsuleName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for CapsuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.publisher, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Category(&'static str);

impl Category {
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl Serialize for Category {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// How much model a capsule needs; workers are grouped by tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Fast,
    Balanced,
    Flagship,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fast => "fast",
            Self::Balanced => "balanced",
            Self::Flagship => "flagship",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runtime {
    entrypoint: String,
    pub timeout_s: u32,
    pub tier: Tier,
}

impl Runtime {
    /// The bundle-relative path of the program a worker runs.
    pub fn entrypoint(&self) -> &str {
        &self.entrypoint
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub description: String,
}

/// What a publisher charges per execution, on top of the tenant's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pricing {
    pub per_execution: Decimal,
    /// ISO 4217, lowercase (`usd`).
    pub currency: String,
}

/// The file as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    version: String,
    description: String,
    license: String,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    repository: Option<String>,
    runtime: RawRuntime,
    input_schema: Option<toml::Value>,
    output_schema: Option<toml::Value>,
    #[serde(default)]
    tools: Vec<Tool>,
    pricing: Option<RawPricing>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    entrypoint: String,
    timeout_s: u32,
    tier: Tier,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPricing {
    per_execution: Decimal,
    currency: String,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Self, CapsuleError> {
        let raw: RawManifest = toml::from_str(text).map_err(|error| invalid(error.message()))?;
        let name = CapsuleName::parse(&raw.name).map_err(invalid)?;
        let version = semver::Version::parse(&raw.version)
            .map_err(|error| invalid(format!("version `{}` is not semver: {error}", raw.version)))?;
        let description = raw.description.trim().to_owned();
        if description.is_empty() || description.chars().count() > 500 {
            return Err(invalid("description must have 1 to 500 characters"));
        }
        spdx::Expression::parse(&raw.license).map_err(|error| {
            invalid(format!("license `{}` is not an SPDX expression: {error}", raw.license))
        })?;
        Ok(Self {
            name,
            version,
            description,
            license: raw.license,
            keywords: keywords(raw.keywords)?,
            categories: categories(&raw.categories)?,
            repository: raw.repository.as_deref().map(repository).transpose()?,
            runtime: runtime(raw.runtime)?,
            input_schema: raw.input_schema.map(|schema| json_schema("input_schema", schema)).transpose()?,
            output_schema: raw
                .output_schema
                .map(|schema| json_schema("output_schema", schema))
                .transpose()?,
            tools: tools(raw.tools)?,
            pricing: raw.pricing.map(pricing).transpose()?,
        })
    }
}

fn invalid(reason: impl Into<String>) -> CapsuleError {
    CapsuleError::InvalidManifest(reason.into())
}

fn keywords(keywords: Vec<String>) -> Result<Vec<String>, CapsuleError> {
    if keywords.len() > 10 {
        return Err(invalid("at most 10 keywords"));
    }
    for keyword in &keywords {
        let valid = (1..=32).contains(&keyword.len())
            && keyword.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
        if !valid {
            return Err(invalid(format!(
                "keyword `{keyword}` must be 1 to 32 characters of a-z, 0-9 and `-`"
            )));
        }
    }
    Ok(keywords)
}

fn categories(names: &[String]) -> Result<Vec<Category>, CapsuleError> {
    names
        .iter()
        .map(|name| {
            CATEGORIES.iter().find(|known| **known == name.as_str()).map(|known| Category(known)).ok_or_else(
                || invalid(format!("unknown category `{name}`; categories are: {}", CATEGORIES.join(", "))),
            )
        })
        .collect()
}

fn repository(text: &str) -> Result<url::Url, CapsuleError> {
    let url = url::Url::parse(text).map_err(|error| invalid(format!("repository `{text}`: {error}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid(format!("repository `{text}` must be an http(s) URL")));
    }
    Ok(url)
}

fn runtime(raw: RawRuntime) -> Result<Runtime, CapsuleError> {
    let path = raw.entrypoint.trim_start_matches("./");
    let safe = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
    if !safe {
        return Err(invalid(format!(
            "runtime.entrypoint `{}` must be a relative path inside the bundle",
            raw.entrypoint
        )));
    }
    if !(1..=3600).contains(&raw.timeout_s) {
        return Err(invalid("runtime.timeout_s must be between 1 and 3600"));
    }
    Ok(Runtime { entrypoint: path.to_owned(), timeout_s: raw.timeout_s, tier: raw.tier })
}

/// A JSON Schema is an object (or `true`/`false`) whose `type`, when present, names JSON
/// types. Full compilation of the schema belongs with execution-time input validation.
fn json_schema(field: &str, schema: toml::Value) -> Result<serde_json::Value, CapsuleError> {
    let json = serde_json::to_value(schema).map_err(|error| invalid(format!("{field}: {error}")))?;
    if !json.is_object() && !json.is_boolean() {
        return Err(invalid(format!("{field} must be a JSON Schema object")));
    }
    // Compiled as executions will compile it; remote references are never fetched.
    jsonschema::validator_for(&json)
        .map_err(|error| invalid(format!("{field} is not a valid JSON Schema: {error}")))?;
    Ok(json)
}

fn tools(tools: Vec<Tool>) -> Result<Vec<Tool>, CapsuleError> {
    for tool in &tools {
        let valid = (1..=64).contains(&tool.name.len())
            && tool.name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
        if !valid {
            return Err(invalid(format!(
                "tool name `{}` must be 1 to 64 characters of a-z, 0-9, `_` and `-`",
                tool.name
            )));
        }
    }
    Ok(tools)
}

fn pricing(raw: RawPricing) -> Result<Pricing, CapsuleError> {
    if raw.per_execution.is_sign_negative() || raw.per_execution.scale() > 6 {
        return Err(invalid("pricing.per_execution must be a non-negative amount with at most 6 decimals"));
    }
    if raw.currency.len() != 3 || !raw.currency.bytes().all(|byte| byte.is_ascii_lowercase()) {
        return Err(invalid(format!(
            "pricing.currency `{}` must be a lowercase ISO 4217 code",
            raw.currency
        )));
    }
    Ok(Pricing { per_execution: raw.per_execution, currency: raw.currency })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECHO: &str = r#"
name = "acme/echo"
version = "1.2.0"
description = "Answers with its input"
license = "MIT OR Apache-2.0"
keywords = ["echo", "demo"]
categories = ["utilities"]
repository = "https://example.com/acme/echo"

[runtime]
entrypoint = "./bin/run.sh"
timeout_s = 30
tier = "fast"

[input_schema]
type = "object"
required = ["text"]

[input_schema.properties.text]
type = "string"

[[tools]]
name = "clock"
description = "Reads the time"

[pricing]
per_execution = "0.0025"
currency = "usd"
"#;

    fn with(replace: &str, by: &str) -> Result<Manifest, CapsuleError> {
        Manifest::parse(&ECHO.replace(replace, by))
    }

    #[test]
    fn a_complete_manifest_parses_into_valid_types() {
        let manifest = Manifest::parse(ECHO).expect("valid");
        assert_eq!(manifest.name.to_string(), "acme/echo");
        assert_eq!(manifest.version, semver::Version::new(1, 2, 0));
        assert_eq!(manifest.runtime.entrypoint(), "bin/run.sh");
        assert_eq!(manifest.runtime.tier, Tier::Fast);
        assert_eq!(manifest.categories[0].as_str(), "utilities");
        assert_eq!(
            manifest.input_schema.as_ref().map(|schema| schema["required"][0].clone()),
            Some("text".into())
        );
        assert_eq!(
            manifest.pricing.map(|pricing| pricing.per_execution.to_string()),
            Some("0.0025".to_owned())
        );
    }

    #[test]
    fn each_invalid_field_is_named_in_the_refusal() {
        let cases = [
            (r#"name = "acme/echo""#, r#"name = "Acme/echo""#, "Acme"),
            (r#"name = "acme/echo""#, r#"name = "echo""#, "publisher/name"),
            (r#"version = "1.2.0""#, r#"version = "1.2""#, "semver"),
            (r#"license = "MIT OR Apache-2.0""#, r#"license = "MIT OR whatever""#, "SPDX"),
            (r#"categories = ["utilities"]"#, r#"categories = ["toys"]"#, "unknown category"),
            (r#"entrypoint = "./bin/run.sh""#, r#"entrypoint = "../run.sh""#, "relative path"),
            (r#"entrypoint = "./bin/run.sh""#, r#"entrypoint = "/bin/sh""#, "relative path"),
            ("timeout_s = 30", "timeout_s = 0", "timeout_s"),
            (r#"tier = "fast""#, r#"tier = "huge""#, "huge"),
            (r#"per_execution = "0.0025""#, r#"per_execution = "-1""#, "non-negative"),
            (r#"per_execution = "0.0025""#, r#"per_execution = "0.00000001""#, "6 decimals"),
            (r#"currency = "usd""#, r#"currency = "dollars""#, "ISO 4217"),
            ("type = \"object\"\nrequired", "type = \"thing\"\nrequired", "not a valid JSON Schema"),
            ("required = [\"text\"]", "required = \"text\"", "not a valid JSON Schema"),
            (r#"repository = "https://example.com/acme/echo""#, r#"repository = "ftp://x""#, "http(s)"),
            (r#"keywords = ["echo", "demo"]"#, r#"keywords = ["Echo!"]"#, "keyword"),
        ];
        for (replace, by, expected) in cases {
            let Err(CapsuleError::InvalidManifest(reason)) = with(replace, by) else {
                panic!("`{by}` was accepted");
            };
            assert!(reason.contains(expected), "`{by}`: {reason}");
        }
    }

    #[test]
    fn unknown_fields_and_broken_toml_are_refused() {
        assert!(matches!(
            with("timeout_s = 30", "timeout_s = 30\nmemory = 4"),
            Err(CapsuleError::InvalidManifest(_))
        ));
        assert!(matches!(Manifest::parse("name = "), Err(CapsuleError::InvalidManifest(_))));
    }
}
