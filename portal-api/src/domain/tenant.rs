//! Tenant values: names, kinds and states.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A tenant's display name: 1 to 100 characters, no control characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantName(String);

impl TenantName {
    pub fn parse(input: &str) -> Result<Self, String> {
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 100 {
            return Err("a tenant name has 1 to 100 characters".to_owned());
        }
        if trimmed.chars().any(char::is_control) {
            return Err("a tenant name cannot contain control characters".to_owned());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The operator runs the installation; customers use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantKind {
    Operator,
    Customer,
}

impl TenantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Customer => "customer",
        }
    }

    pub fn from_stored(text: &str) -> Self {
        if text == "operator" { Self::Operator } else { Self::Customer }
    }
}

/// A suspended tenant's keys are refused with 403 `tenant-suspended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    pub fn from_stored(text: &str) -> Self {
        if text == "suspended" { Self::Suspended } else { Self::Active }
    }
}

#[cfg(test)]
mod tests {
    use super::TenantName;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            TenantName::parse("  Acme Inc ").map(|n| n.as_str().to_owned()),
            Ok("Acme Inc".to_owned())
        );
        assert!(TenantName::parse("   ").is_err());
        assert!(TenantName::parse(&"x".repeat(101)).is_err());
        assert!(TenantName::parse("a\u{7}b").is_err());
    }
}
