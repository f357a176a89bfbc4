//! Pricing: a tenant's monthly usage and its plan become invoice lines.
//!
//! Every line's amount is computed exactly, then rounded once to the currency's minor unit
//! (half away from zero, [`caravan_core::money::to_minor_units`]); the invoice total is the
//! sum of the rounded lines. Meters are priced on their monthly quantity after the plan's
//! `included` units; capsule prices are their own lines, one per capsule and unit price.

use caravan_core::money::{Currency, Decimal, MoneyError, to_minor_units};
use caravan_core::plans::{Plan, Price, Tier};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What a line charges for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// The plan's monthly fee.
    Fee,
    /// A meter's usage, priced by the plan.
    Usage,
    /// Executions of a capsule at the publisher's per-execution price.
    Capsule,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fee => "fee",
            Self::Usage => "usage",
            Self::Capsule => "capsule",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Fee, Self::Usage, Self::Capsule].into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One invoice line before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDraft {
    pub kind: LineKind,
    pub meter: Option<String>,
    pub capsule: Option<String>,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// The exact amount before rounding.
    pub exact_amount: Decimal,
    pub amount_minor: i64,
}

/// Executions of one capsule at one per-execution price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapsuleCharge {
    pub capsule: String,
    pub unit_price: Decimal,
    pub executions: Decimal,
}

/// Everything the invoice of one tenant and period is made from.
#[derive(Debug, Clone)]
pub struct Usage<'a> {
    pub plan_id: &'a str,
    pub plan: &'a Plan,
    pub currency: &'a Currency,
    /// Each meter's monthly quantity (sum, max or distinct count, as the meter aggregates).
    pub meters: &'a BTreeMap<String, Decimal>,
    pub capsules: &'a [CapsuleCharge],
}

/// The lines of an invoice, in a fixed order: fee, then meters by slug, then capsules.
pub fn invoice_lines(usage: &Usage<'_>) -> Result<Vec<LineDraft>, MoneyError> {
    let mut lines = Vec::new();
    let mut push = |kind,
                    meter: Option<&str>,
                    capsule: Option<&str>,
                    description: String,
                    quantity,
                    unit_price,
                    exact| {
        let amount_minor = to_minor_units(exact, usage.currency)?;
        lines.push(LineDraft {
            kind,
            meter: meter.map(str::to_owned),
            capsule: capsule.map(str::to_owned),
            description,
            quantity,
            unit_price,
            exact_amount: exact,
            amount_minor,
        });
        Ok::<_, MoneyError>(())
    };
    if !usage.plan.monthly_fee.is_zero() {
        let fee = usage.plan.monthly_fee;
        push(
            LineKind::Fee,
            None,
            None,
            format!("{} plan, monthly fee", usage.plan.name),
            Decimal::ONE,
            fee,
            fee,
        )?;
    }
    for (meter, quantity) in usage.meters {
        let Some(price) = usage.plan.prices.get(meter) else { continue };
        for segment in price_segments(price, *quantity) {
            let description = format!("{meter}: {}", segment.label);
            push(
                LineKind::Usage,
                Some(meter),
                None,
                description,
                segment.quantity,
                segment.unit_price,
                segment.amount,
            )?;
        }
    }
    for charge in usage.capsules {
        if charge.executions.is_zero() {
            continue;
        }
        let exact = charge.executions * charge.unit_price;
        let description =
            format!("{}: executions at {} {} each", charge.capsule, charge.unit_price, usage.currency);
        push(
            LineKind::Capsule,
            Some("executions"),
            Some(&charge.capsule),
            description,
            charge.executions,
            charge.unit_price,
            exact,
        )?;
    }
    Ok(lines)
}

/// A priced part of one meter's quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    label: String,
    quantity: Decimal,
    unit_price: Decimal,
    amount: Decimal,
}

/// The priced segments of `quantity` under `price`; none when nothing is billable.
fn price_segments(price: &Price, quantity: Decimal) -> Vec<Segment> {
    let included = price.included();
    let billable = (quantity - included).max(Decimal::ZERO);
    if billable.is_zero() {
        return Vec::new();
    }
    let after_included =
        if included.is_zero() { String::new() } else { format!(", after {included} included") };
    match price {
        Price::PerUnit { unit_price, .. } => vec![Segment {
            label: format!("{billable} units{after_included}"),
            quantity: billable,
            unit_price: *unit_price,
            amount: billable * unit_price,
        }],
        Price::Package { package_size, package_price, .. } => {
            let packages = (billable / package_size).ceil();
            vec![Segment {
                label: format!("{packages} packages of {package_size} for {billable} units{after_included}"),
                quantity: packages,
                unit_price: *package_price,
                amount: packages * package_price,
            }]
        }
        Price::Volume { tiers, .. } => {
            let Some((index, tier)) =
                tiers.iter().enumerate().find(|(_, tier)| tier.up_to.is_none_or(|up_to| billable <= up_to))
            else {
                return Vec::new();
            };
            vec![Segment {
                label: format!("{billable} units at the tier {} price{after_included}", index + 1),
                quantity: billable,
                unit_price: tier.unit_price,
                amount: billable * tier.unit_price + tier.flat_price,
            }]
        }
        Price::Graduated { tiers, .. } => graduated(tiers, billable, &after_included),
    }
}

fn graduated(tiers: &[Tier], billable: Decimal, after_included: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut floor = Decimal::ZERO;
    for (index, tier) in tiers.iter().enumerate() {
        if billable <= floor {
            break;
        }
        let ceiling = tier.up_to.map_or(billable, |up_to| up_to.min(billable));
        let in_tier = ceiling - floor;
        let range = match tier.up_to {
            Some(up_to) => format!("{} to {up_to}", floor + Decimal::ONE),
            None => format!("above {floor}"),
        };
        segments.push(Segment {
            label: format!("tier {} ({range}): {in_tier} units{after_included}", index + 1),
            quantity: in_tier,
            unit_price: tier.unit_price,
            amount: in_tier * tier.unit_price + tier.flat_price,
        });
        floor = tier.up_to.unwrap_or(billable);
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravan_core::plans::PlanCatalog;
    use std::str::FromStr;

    fn decimal(text: &str) -> Decimal {
        Decimal::from_str(text).expect("decimal")
    }

    fn lines(plan_id: &str, meters: &[(&str, &str)], capsules: &[CapsuleCharge]) -> Vec<LineDraft> {
        let catalog = PlanCatalog::built_in().expect("plans");
        let plan = catalog.get(plan_id).expect("plan");
        let meters =
            meters.iter().map(|(meter, quantity)| ((*meter).to_owned(), decimal(quantity))).collect();
        let usage = Usage { plan_id, plan, currency: catalog.currency(), meters: &meters, capsules };
        invoice_lines(&usage).expect("priced")
    }

    fn amounts(lines: &[LineDraft]) -> Vec<(String, i64)> {
        lines.iter().map(|line| (line.description.clone(), line.amount_minor)).collect()
    }

    #[test]
    fn per_unit_prices_what_exceeds_the_included_units() {
        let priced = lines("pro", &[("executions", "1500")], &[]);
        // Fee 49.00, then 500 executions × 0.002 = 1.00.
        assert_eq!(priced.iter().map(|line| line.amount_minor).collect::<Vec<_>>(), [4900, 100]);
        assert_eq!(priced[1].quantity, decimal("500"));
        assert!(lines("pro", &[("executions", "999")], &[]).len() == 1, "within the allowance: fee only");
    }

    #[test]
    fn graduated_tiers_price_the_units_inside_each_tier() {
        // 12,000,000 tokens: 1M free, 9M × 0.000002 = 18.00, 2M × 0.000001 = 2.00.
        let priced = lines("pro", &[("tokens_in", "12000000")], &[]);
        let usage: Vec<_> = priced.iter().filter(|line| line.kind == LineKind::Usage).collect();
        assert_eq!(
            usage.iter().map(|line| line.quantity).collect::<Vec<_>>(),
            [decimal("1000000"), decimal("9000000"), decimal("2000000")]
        );
        assert_eq!(usage.iter().map(|line| line.amount_minor).collect::<Vec<_>>(), [0, 1800, 200]);
    }

    #[test]
    fn volume_prices_every_unit_at_the_tier_reached() {
        // 2,000,000 output tokens reach tier 2: all at 0.000006 = 12.00.
        let priced = lines("pro", &[("tokens_out", "2000000")], &[]);
        assert_eq!(amounts(&priced)[1].1, 1200);
        assert_eq!(priced[1].unit_price, decimal("0.000006"));
    }

    #[test]
    fn packages_are_charged_per_started_package() {
        // 3601 seconds → 2 packages × 0.40.
        let priced = lines("pro", &[("job_seconds", "3601")], &[]);
        assert_eq!((priced[1].quantity, priced[1].amount_minor), (decimal("2"), 80));
        // Team includes 3600 seconds: 3601 → 1 billable second → 1 package × 0.30.
        let priced = lines("team", &[("job_seconds", "3601")], &[]);
        assert_eq!((priced[1].quantity, priced[1].amount_minor), (decimal("1"), 30));
    }

    #[test]
    fn capsule_prices_are_their_own_lines_and_round_once() {
        let charges = [CapsuleCharge {
            capsule: "acme/echo".to_owned(),
            unit_price: decimal("0.001"),
            executions: decimal("1005"),
        }];
        let priced = lines("free", &[], &charges);
        assert_eq!(priced.len(), 1);
        assert_eq!(priced[0].kind, LineKind::Capsule);
        assert_eq!(priced[0].exact_amount, decimal("1.005"));
        assert_eq!(priced[0].amount_minor, 101, "half away from zero");
    }

    #[test]
    fn unpriced_meters_and_free_plans_cost_nothing() {
        assert!(lines("free", &[("tokens_in", "99999999"), ("executions", "50")], &[]).is_empty());
    }
}
