//! The developer portal in the browser: server-rendered pages at `/portal`, usable without
//! JavaScript, for members signed in with a password. Each page acts through the same
//! services as the API, with the scopes of the member's role (see
//! [`crate::service::members::Role`]); forms carry a CSRF token and answer with a redirect
//! or a page that shows the result.

mod audit;
mod chart;
mod form;
mod invoices;
mod keys;
mod members;
mod page;
mod publishing;
pub mod session;
mod sign_in;
mod usage;

pub use page::PageError;
pub use session::{SessionSettings, middleware};

use crate::service::RequestContext;
use actix_web::web;
use caravan_core::RequestIdentity;
use chrono::NaiveDateTime;

/// The routes under `/portal`; wrap the scope in [`middleware`].
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("", web::get().to(home))
        .route("/", web::get().to(home))
        .route("/sign-in", web::get().to(sign_in::show_sign_in))
        .route("/sign-in", web::post().to(sign_in::sign_in))
        .route("/sign-out", web::post().to(sign_in::sign_out))
        .route("/invitations/{token}", web::get().to(sign_in::show_invitation))
        .route("/invitations/{token}", web::post().to(sign_in::accept_invitation))
        .route("/keys", web::get().to(keys::show_keys))
        .route("/keys", web::post().to(keys::create_key))
        .route("/keys/{key_id}/rotate", web::post().to(keys::rotate_key))
        .route("/keys/{key_id}/revoke", web::post().to(keys::revoke_key))
        .route("/publishing", web::get().to(publishing::show_publishing))
        .route("/publishing/signing-keys", web::post().to(publishing::register_signing_key))
        .route(
            "/publishing/signing-keys/{namespace}/{key_id}/retire",
            web::post().to(publishing::retire_signing_key),
        )
        .route(
            "/capsules/{publisher}/{name}/versions/{version}/{change}",
            web::post().to(publishing::change_version),
        )
        .route("/usage", web::get().to(usage::show_usage))
        .route("/invoices", web::get().to(invoices::show_invoices))
        .route("/invoices/{invoice_id}", web::get().to(invoices::show_invoice))
        .route("/audit", web::get().to(audit::show_audit))
        .route("/members", web::get().to(members::show_members))
        .route("/members/invitations", web::post().to(members::invite_member));
}

/// The first page of the navigation the member's role may see.
async fn home(signed_in: session::SignedIn) -> actix_web::HttpResponse {
    let first = page::NAVIGATION
        .into_iter()
        .find(|(_, _, scope)| signed_in.principal.scopes.contains(*scope))
        .map_or("usage", |(slug, _, _)| slug);
    page::see_other(&format!("/portal/{first}"))
}

/// The link that accepts an invitation, on the host the request came to.
pub fn invitation_url(request: &actix_web::HttpRequest, token: &str) -> String {
    let info = request.connection_info();
    format!("{}://{}/portal/invitations/{token}", info.scheme(), info.host())
}

fn request_context(identity: &RequestIdentity) -> RequestContext {
    RequestContext { request_id: Some(identity.as_str().to_owned()) }
}

/// A stored time as shown on pages: minutes, UTC.
fn format_time(time: NaiveDateTime) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}
