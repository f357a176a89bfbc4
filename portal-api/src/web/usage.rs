//! The usage page: a chart per meter over the last 30 days or 12 months, usage per capsule,
//! and the upcoming invoice of the open period for members who may read billing.

use super::chart;
use super::invoices::line_table;
use super::page::{PageError, layout};
use super::session::SignedIn;
use actix_web::{HttpResponse, web};
use caravan_core::id::TenantId;
use caravan_core::{Database, Scope};
use caravan_metering::Metering;
use caravan_metering::billing;
use caravan_metering::domain::period::Period;
use caravan_metering::usage::{self, UsageQuery, Window};
use caravan_metering::views::LineView;
use chrono::{NaiveDateTime, TimeDelta};
use maud::{Markup, PreEscaped, html};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
pub struct UsageParams {
    window: Option<String>,
}

/// One meter's totals per window.
struct Series {
    slug: String,
    description: String,
    points: Vec<(NaiveDateTime, Decimal)>,
}

pub async fn show_usage(
    signed_in: SignedIn,
    params: web::Query<UsageParams>,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, PageError> {
    signed_in.principal.require(Scope::UsageRead)?;
    let window = match params.window.as_deref() {
        Some("month") => Window::Month,
        _ => Window::Day,
    };
    let now = caravan_core::db::now();
    let starts = window_starts(window, now);
    let (from, to) = (starts[0], next_start(window, starts[starts.len() - 1]));
    let tenant = signed_in.principal.tenant_id.clone();
    let may_bill = signed_in.principal.scopes.contains(Scope::BillingRead);
    let metering = metering.into_inner();
    let (series, per_capsule, upcoming) = database
        .run(move |connection| -> Result<_, PageError> {
            let mut series = Vec::new();
            let mut per_capsule: BTreeMap<String, BTreeMap<String, Decimal>> = BTreeMap::new();
            for meter in metering.meters.iter() {
                let query = |window, group_by: Vec<String>| UsageQuery {
                    meter: meter.slug.clone(),
                    from,
                    to,
                    window,
                    group_by,
                    tenant: Some(tenant.clone()),
                };
                let report = usage::query(connection, &metering.meters, &query(Some(window), Vec::new()))?;
                let totals: BTreeMap<NaiveDateTime, Decimal> =
                    report.data.iter().map(|row| (row.from, row.quantity)).collect();
                let points = starts
                    .iter()
                    .map(|start| (*start, totals.get(start).copied().unwrap_or_default()))
                    .collect();
                series.push(Series {
                    slug: meter.slug.clone(),
                    description: meter.description.clone(),
                    points,
                });
                // A second query rather than sums of a by-window-and-capsule one: `max` and
                // `unique_count` meters do not add up across groups.
                let by_capsule =
                    usage::query(connection, &metering.meters, &query(None, vec!["capsule".to_owned()]))?;
                for row in by_capsule.data {
                    let capsule =
                        row.groups.get("capsule").cloned().flatten().unwrap_or_else(|| "(none)".to_owned());
                    per_capsule.entry(capsule).or_default().insert(meter.slug.clone(), row.quantity);
                }
            }
            let upcoming =
                if may_bill { Some(upcoming_lines(connection, &metering, &tenant, now)?) } else { None };
            Ok((series, per_capsule, upcoming))
        })
        .await?;
    let content = html! {
        nav aria-label="Window" {
            p {
                "Show: "
                a href="/portal/usage?window=day" aria-current=[(window == Window::Day).then_some("page")] { "last 30 days" }
                " · "
                a href="/portal/usage?window=month" aria-current=[(window == Window::Month).then_some("page")] { "last 12 months" }
            }
        }
        @for meter in &series { (meter_figure(meter, window)) }
        section aria-labelledby="capsules-heading" {
            h2 id="capsules-heading" { "Per capsule" }
            (capsule_figure(&per_capsule))
            table {
                thead { tr { th { "Capsule" } @for meter in &series { th { (meter.slug) } } } }
                tbody {
                    @for (capsule, totals) in &per_capsule {
                        tr {
                            td { (capsule) }
                            @for meter in &series {
                                td class="number" { (totals.get(&meter.slug).copied().unwrap_or_default().normalize()) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some((period, plan, lines, currency)) = &upcoming {
            section aria-labelledby="upcoming-heading" {
                h2 id="upcoming-heading" { "Upcoming invoice: " (period) " (" (plan) ")" }
                (line_table(lines, currency))
            }
        }
    };
    Ok(layout(&signed_in, "usage", "Usage", content))
}

type Upcoming = (String, String, Vec<LineView>, String);

fn upcoming_lines(
    connection: &mut caravan_core::DbConnection,
    metering: &Metering,
    tenant: &TenantId,
    now: NaiveDateTime,
) -> Result<Upcoming, PageError> {
    let (period, plan, drafts) =
        billing::upcoming(connection, &metering.meters, &metering.plans, tenant, now)?;
    let currency = metering.plans.currency();
    let lines = drafts.into_iter().map(|draft| LineView::from_draft(draft, currency)).collect();
    Ok((period.to_string(), plan, lines, currency.as_str().to_owned()))
}

fn meter_figure(meter: &Series, window: Window) -> Markup {
    let labels: Vec<String> = meter.points.iter().map(|(start, _)| label(window, *start)).collect();
    let values: Vec<f64> =
        meter.points.iter().map(|(_, quantity)| quantity.to_f64().unwrap_or_default()).collect();
    let total: Decimal = meter.points.iter().map(|(_, quantity)| *quantity).sum();
    let caption = format!("{} — {} (total {})", meter.slug, meter.description, total.normalize());
    figure(
        &caption,
        &labels,
        &values,
        &meter.points.iter().map(|(_, q)| q.normalize().to_string()).collect::<Vec<_>>(),
    )
}

fn capsule_figure(per_capsule: &BTreeMap<String, BTreeMap<String, Decimal>>) -> Markup {
    let labels: Vec<String> = per_capsule.keys().cloned().collect();
    let exact: Vec<Decimal> =
        per_capsule.values().map(|totals| totals.get("executions").copied().unwrap_or_default()).collect();
    let values: Vec<f64> = exact.iter().map(|quantity| quantity.to_f64().unwrap_or_default()).collect();
    let shown: Vec<String> = exact.iter().map(|quantity| quantity.normalize().to_string()).collect();
    figure("executions per capsule", &labels, &values, &shown)
}

fn figure(caption: &str, labels: &[String], values: &[f64], exact: &[String]) -> Markup {
    html! {
        figure {
            figcaption { (caption) }
            @match chart::bars(labels, values) {
                Some(svg) => div role="img" aria-label=(caption) { (PreEscaped(svg)) },
                None => p { "The chart could not be drawn; the figures are below." },
            }
            details {
                summary { "Figures" }
                table {
                    thead { tr { th { "Window" } th { "Quantity" } } }
                    tbody { @for (label, value) in labels.iter().zip(exact) { tr { td { (label) } td class="number" { (value) } } } }
                }
            }
        }
    }
}

fn label(window: Window, start: NaiveDateTime) -> String {
    match window {
        Window::Month => start.format("%Y-%m").to_string(),
        _ => start.format("%m-%d").to_string(),
    }
}

/// The starts of the windows shown: the last 30 days, or the last 12 months.
fn window_starts(window: Window, now: NaiveDateTime) -> Vec<NaiveDateTime> {
    match window {
        Window::Month => {
            let mut period = Period::containing(now);
            let mut starts = vec![period.start()];
            for _ in 1..12 {
                period = period.previous();
                starts.push(period.start());
            }
            starts.reverse();
            starts
        }
        _ => {
            let today = now.date().and_hms_opt(0, 0, 0).unwrap_or(now);
            (0..30).rev().map(|days| today - TimeDelta::days(days)).collect()
        }
    }
}

fn next_start(window: Window, start: NaiveDateTime) -> NaiveDateTime {
    match window {
        Window::Month => Period::containing(start).end(),
        _ => start + TimeDelta::days(1),
    }
}
