//! Publisher earnings: what each publisher's capsules earned in a period at their
//! per-execution prices, summed from the same capsule lines the tenants are invoiced
//! (each tenant's line rounded on its own, as on its invoice).

use crate::billing::{TenantUsage, period_usage};
use crate::domain::meter::MeterCatalog;
use crate::domain::period::Period;
use crate::error::MeteringError;
use caravan_core::db::DbConnection;
use caravan_core::db::schema::namespaces;
use caravan_core::id::TenantId;
use caravan_core::money::{Currency, Decimal, from_minor_units, to_minor_units};
use diesel::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CapsuleEarnings {
    pub capsule: String,
    #[schema(value_type = String, example = "0.001")]
    pub unit_price: Decimal,
    #[schema(value_type = String, example = "1200")]
    pub executions: Decimal,
    #[schema(value_type = String, example = "1.20")]
    pub amount: Decimal,
    pub amount_minor: i64,
    /// How many tenants ran it at this price.
    pub tenants: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublisherEarnings {
    pub namespace: String,
    #[schema(value_type = String, example = "1.20")]
    pub total: Decimal,
    pub total_minor: i64,
    pub capsules: Vec<CapsuleEarnings>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EarningsReport {
    pub period: String,
    pub currency: String,
    pub publishers: Vec<PublisherEarnings>,
}

/// Earnings in `period` of the namespaces `owner` holds, or of every namespace.
pub fn report(
    connection: &mut DbConnection,
    meters: &MeterCatalog,
    currency: &Currency,
    owner: Option<&TenantId>,
    period: Period,
) -> Result<EarningsReport, MeteringError> {
    let owned: Option<Vec<String>> = match owner {
        Some(tenant) => Some(
            namespaces::table
                .filter(namespaces::tenant_id.eq(tenant.clone()))
                .select(namespaces::name)
                .load(connection)?,
        ),
        None => None,
    };
    let usage = period_usage(connection, meters, None, period)?;
    let mut capsules: BTreeMap<(String, Decimal), (Decimal, i64, usize)> = BTreeMap::new();
    for TenantUsage { capsules: charges, .. } in usage.values() {
        for charge in charges {
            let namespace = charge.capsule.split('/').next().unwrap_or_default();
            if owned.as_ref().is_some_and(|owned| !owned.iter().any(|name| name == namespace)) {
                continue;
            }
            let minor = to_minor_units(charge.executions * charge.unit_price, currency)?;
            let entry =
                capsules.entry((charge.capsule.clone(), charge.unit_price)).or_insert((Decimal::ZERO, 0, 0));
            entry.0 += charge.executions;
            entry.1 += minor;
            entry.2 += 1;
        }
    }
    let mut publishers: BTreeMap<String, Vec<CapsuleEarnings>> = BTreeMap::new();
    for ((capsule, unit_price), (executions, amount_minor, tenants)) in capsules {
        let namespace = capsule.split('/').next().unwrap_or_default().to_owned();
        publishers.entry(namespace).or_default().push(CapsuleEarnings {
            capsule,
            unit_price,
            executions,
            amount: from_minor_units(amount_minor, currency),
            amount_minor,
            tenants,
        });
    }
    let publishers = publishers
        .into_iter()
        .map(|(namespace, capsules)| {
            let total_minor = capsules.iter().map(|capsule| capsule.amount_minor).sum();
            PublisherEarnings {
                namespace,
                total: from_minor_units(total_minor, currency),
                total_minor,
                capsules,
            }
        })
        .collect();
    Ok(EarningsReport { period: period.to_string(), currency: currency.to_string(), publishers })
}
