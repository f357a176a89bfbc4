//! The plan catalog (`fixtures/plans.toml` built in, or the operator's file): each plan's
//! name, the rate limits the gateway enforces for its tenants and their keys, and what the
//! plan costs: a monthly fee, a monthly execution quota and a price per meter.

use crate::money::{Currency, Decimal};
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
    /// Charged for every closed period (a decimal string in the catalog's currency).
    #[serde(default)]
    pub monthly_fee: Decimal,
    /// Executions a tenant may start per calendar month; unlimited when absent.
    #[serde(default)]
    pub monthly_execution_quota: Option<u64>,
    /// How each meter's monthly quantity is priced, by meter slug; unpriced meters are free.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
}

/// The price of one meter's monthly quantity. `included` units (default 0) are free;
/// the model prices the rest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Price {
    /// Every unit at `unit_price`.
    PerUnit {
        #[serde(default)]
        included: Decimal,
        unit_price: Decimal,
    },
    /// Each tier prices the units that fall inside it (like income tax brackets).
    Graduated {
        #[serde(default)]
        included: Decimal,
        tiers: Vec<Tier>,
    },
    /// The tier the whole quantity falls in prices every unit.
    Volume {
        #[serde(default)]
        included: Decimal,
        tiers: Vec<Tier>,
    },
    /// `package_price` per started package of `package_size` units.
    Package {
        #[serde(default)]
        included: Decimal,
        package_size: Decimal,
        package_price: Decimal,
    },
}

/// One tier of a graduated or volume price: units up to `up_to` (inclusive; the last tier
/// has none) cost `unit_price` each, plus `flat_price` once when the tier is reached.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub up_to: Option<Decimal>,
    pub unit_price: Decimal,
    #[serde(default)]
    pub flat_price: Decimal,
}

impl Price {
    /// Units that are free before the model applies.
    pub fn included(&self) -> Decimal {
        match self {
            Self::PerUnit { included, .. }
            | Self::Graduated { included, .. }
            | Self::Volume { included, .. }
            | Self::Package { included, .. } => *included,
        }
    }

    fn check(&self, at: &str) -> Result<(), PlanError> {
        let invalid = |reason: &str| Err(PlanError::InvalidPrice(format!("{at}: {reason}")));
        if self.included().is_sign_negative() {
            return invalid("`included` is negative");
        }
        match self {
            Self::PerUnit { unit_price, .. } if unit_price.is_sign_negative() => {
                invalid("negative unit_price")
            }
            Self::Package { package_size, package_price, .. } => {
                if *package_size <= Decimal::ZERO {
                    invalid("package_size must be positive")
                } else if package_price.is_sign_negative() {
                    invalid("negative package_price")
                } else {
                    Ok(())
                }
            }
            Self::Graduated { tiers, .. } | Self::Volume { tiers, .. } => check_tiers(tiers, at),
            Self::PerUnit { .. } => Ok(()),
        }
    }
}

/// Tiers must rise strictly, the last one must be open-ended, and nothing is negative.
fn check_tiers(tiers: &[Tier], at: &str) -> Result<(), PlanError> {
    let invalid = |reason: &str| Err(PlanError::InvalidPrice(format!("{at}: {reason}")));
    let Some((last, bounded)) = tiers.split_last() else {
        return invalid("a tiered price needs at least one tier");
    };
    if last.up_to.is_some() {
        return invalid("the last tier must have no `up_to`");
    }
    let mut floor = Decimal::ZERO;
    for tier in bounded {
        match tier.up_to {
            Some(up_to) if up_to > floor => floor = up_to,
            _ => return invalid("every tier but the last needs an `up_to` above the previous one"),
        }
    }
    if tiers.iter().any(|tier| tier.unit_price.is_sign_negative() || tier.flat_price.is_sign_negative()) {
        return invalid("negative tier price");
    }
    Ok(())
}

/// Every plan, by id (`free`, `pro`, `team`), and the one currency they bill in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanCatalog {
    #[serde(default = "default_currency")]
    currency: Currency,
    plans: BTreeMap<String, Plan>,
}

fn default_currency() -> Currency {
    Currency::usd()
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read plans file {0}")]
    Read(String, #[source] std::io::Error),
    #[error("invalid plans file: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("the plans file defines no plan")]
    Empty,
    #[error("invalid price in the plans file: {0}")]
    InvalidPrice(String),
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
        for (id, plan) in &catalog.plans {
            if plan.monthly_fee.is_sign_negative() {
                return Err(PlanError::InvalidPrice(format!("plans.{id}: negative monthly_fee")));
            }
            for (meter, price) in &plan.prices {
                price.check(&format!("plans.{id}.prices.{meter}"))?;
            }
        }
        Ok(catalog)
    }

    /// The currency every plan, invoice and capsule price is in.
    pub fn currency(&self) -> &Currency {
        &self.currency
    }

    /// Every plan with its id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Plan)> {
        self.plans.iter().map(|(id, plan)| (id.as_str(), plan))
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

    #[test]
    fn the_built_in_catalog_prices_in_decimals() {
        let catalog = PlanCatalog::built_in().expect("built-in plans parse");
        assert_eq!(catalog.currency().as_str(), "usd");
        let free = catalog.get("free").expect("free");
        assert_eq!(free.monthly_execution_quota, Some(50));
        let pro = catalog.get("pro").expect("pro");
        assert_eq!(pro.monthly_fee.to_string(), "49.00");
        assert!(
            matches!(pro.prices.get("tokens_in"), Some(Price::Graduated { tiers, .. }) if tiers.len() == 3)
        );
    }

    #[test]
    fn malformed_prices_are_refused() {
        let head = "[plans.x]\nname='X'\nkey_requests_per_minute=1\nkey_burst=1\ntenant_requests_per_minute=1\ntenant_burst=1\n";
        for price in [
            "[plans.x.prices.tokens_in]\nmodel='per_unit'\nunit_price='-1'",
            "[plans.x.prices.tokens_in]\nmodel='per_unit'\nunit_price=0.5",
            "[plans.x.prices.tokens_in]\nmodel='graduated'\ntiers=[{up_to='10', unit_price='1'}]",
            "[plans.x.prices.tokens_in]\nmodel='volume'\ntiers=[{up_to='10', unit_price='1'}, {up_to='5', unit_price='1'}, {unit_price='0'}]",
            "[plans.x.prices.tokens_in]\nmodel='package'\npackage_size='0'\npackage_price='1'",
            "[plans.x.prices.tokens_in]\nmodel='flat'\nunit_price='1'",
        ] {
            assert!(PlanCatalog::parse(&format!("{head}{price}")).is_err(), "{price}");
        }
    }
}
