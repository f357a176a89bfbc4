//! The plan catalog (`fixtures/plans.toml` built in, or the operator's file): each plan's
//! name and the rate limits the gateway enforces for its tenants and their keys.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::Path;

/// The plan catalog shipped with Caravan.
const BUILT_IN: &str = include_str!("../../fixtures/plans.toml");

/// One plan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Display name.
    pub name: String,
    pub key_requests_per_minute: NonZeroU32,
    pub key_burst: NonZeroU32,
    pub tenant_requests_per_minute: NonZeroU32,
    pub tenant_burst: NonZeroU32,
}

/// Every plan, by id (`free`, `pro`, `team`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanCatalog {
    plans: BTreeMap<String, Plan>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read plans file {0}")]
    Read(String, #[source] std::io::Error),
    #[error("invalid plans file: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("the plans file defines no plan")]
    Empty,
}

impl PlanCatalog {
    pub fn built_in() -> Result<Self, PlanError> {
        Self::parse(BUILT_IN)
    }

    pub fn load(path: &Path) -> Result<Self, PlanError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| PlanError::Read(path.display().to_string(), error))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, PlanError> {
        let catalog: PlanCatalog = toml::from_str(text)?;
        if catalog.plans.is_empty() {
            return Err(PlanError::Empty);
        }
        Ok(catalog)
    }

    pub fn get(&self, id: &str) -> Option<&Plan> {
        self.plans.get(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.plans.contains_key(id)
    }

    /// Plan ids in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.plans.keys().map(String::as_str)
    }

    /// The plan given to the operator tenant at bootstrap: the one with the highest
    /// tenant rate.
    pub fn most_generous(&self) -> &str {
        self.plans
            .iter()
            .max_by_key(|(_, plan)| plan.tenant_requests_per_minute)
            .map(|(id, _)| id.as_str())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_catalog_has_free_pro_and_team() {
        let catalog = PlanCatalog::built_in().expect("built-in plans parse");
        assert_eq!(catalog.ids().collect::<Vec<_>>(), ["free", "pro", "team"]);
        assert_eq!(catalog.most_generous(), "team");
    }

    #[test]
    fn zero_rates_and_unknown_fields_are_refused() {
        let zero = "[plans.x]\nname='X'\nkey_requests_per_minute=0\nkey_burst=1\ntenant_requests_per_minute=1\ntenant_burst=1";
        assert!(PlanCatalog::parse(zero).is_err());
        let typo = "[plans.x]\nname='X'\nkey_requests_per_minute=1\nkey_burst=1\ntenant_requests_per_minute=1\ntenant_burst=1\nburts=3";
        assert!(PlanCatalog::parse(typo).is_err());
    }
}
