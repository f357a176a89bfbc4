//! The tenant's audit log, oldest first, a page at a time; owners only.

use super::format_time;
use super::page::{PageError, layout};
use super::session::SignedIn;
use crate::error::PortalError;
use actix_web::{HttpResponse, web};
use caravan_core::audit;
use caravan_core::{Database, Scope};
use maud::html;
use serde::Deserialize;

const PAGE_SIZE: i64 = 100;

#[derive(Debug, Deserialize)]
pub struct AuditParams {
    after: Option<i64>,
}

pub async fn show_audit(
    signed_in: SignedIn,
    params: web::Query<AuditParams>,
    database: web::Data<Database>,
) -> Result<HttpResponse, PageError> {
    signed_in.principal.require(Scope::Admin)?;
    let tenant = signed_in.principal.tenant_id.clone();
    let after = params.after.unwrap_or_default().max(0);
    let events = database
        .run(move |connection| {
            audit::list(connection, Some(&tenant), after, PAGE_SIZE).map_err(PortalError::from)
        })
        .await?;
    let next =
        (events.len() as i64 == PAGE_SIZE).then(|| events.last().map(|event| event.sequence)).flatten();
    let content = html! {
        table {
            thead { tr { th { "#" } th { "When" } th { "Actor" } th { "Action" } th { "Target" } th { "Details" } th { "Request" } } }
            tbody {
                @for event in &events {
                    tr {
                        td class="number" { (event.sequence) }
                        td { (format_time(event.occurred_at)) }
                        td { code { (event.actor) } }
                        td { (event.action) }
                        td { code { (event.target) } }
                        td { code { (event.details) } }
                        td { code { (event.request_id.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
        @if let Some(next) = next { p { a href={ "/portal/audit?after=" (next) } { "Next page" } } }
    };
    Ok(layout(&signed_in, "audit", "Audit log", content))
}
