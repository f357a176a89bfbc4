//! The developer portal in the browser: server-rendered pages at `/portal`, usable without
//! JavaScript, for members signed in with a password. Each page acts through the same
//! services as the API, with the scopes of the member's role (see
//! [`crate::service::members::Role`]); forms carry a CSRF token and answer with a redirect
//! or a page that shows the result.

mod audit;
mod chart;
mod client_address;
mod form;
mod invoices;
mod keys;
mod members;
mod page;
mod publishing;
pub mod session;
mod sign_in;
mod throttle;
mod usage;

pub use client_address::TrustedProxies;
pub use page::PageError;
pub use session::{SessionSettings, middleware};
pub use throttle::SignInThrottle;

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

/// Where users reach Caravan (`[portal] public_url`), for the links the portal hands out.
/// Without one, a link points at the scheme and host the request came to, which is wrong
/// behind a proxy that rewrites them.
#[derive(Debug, Clone, Default)]
pub struct PublicUrl(Option<url::Url>);

/// Why a configured public URL cannot serve as the base of links.
#[derive(Debug, thiserror::Error)]
pub enum PublicUrlError {
    #[error("`{text}` is not a URL: {source}")]
    NotAUrl { text: String, source: url::ParseError },
    #[error("`{0}` must be an http or https URL with no query or fragment")]
    NotABase(String),
}

impl PublicUrl {
    /// An absolute `http` or `https` URL with neither query nor fragment; none when not
    /// configured or blank (an empty environment variable).
    pub fn parse(configured: Option<&str>) -> Result<Self, PublicUrlError> {
        let Some(text) = configured.map(str::trim).filter(|text| !text.is_empty()) else {
            return Ok(Self(None));
        };
        let url = url::Url::parse(text)
            .map_err(|source| PublicUrlError::NotAUrl { text: text.to_owned(), source })?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
            return Err(PublicUrlError::NotABase(text.to_owned()));
        }
        Ok(Self(Some(url)))
    }
}

/// The link that accepts an invitation: under the public URL when one is configured, else
/// on the host the request came to.
pub fn invitation_url(request: &actix_web::HttpRequest, token: &str) -> String {
    let path = format!("portal/invitations/{token}");
    let public = request.app_data::<web::Data<PublicUrl>>().and_then(|public| public.0.clone());
    match public {
        Some(base) => format!("{}/{path}", base.as_str().trim_end_matches('/')),
        None => {
            let info = request.connection_info();
            format!("{}://{}/{path}", info.scheme(), info.host())
        }
    }
}

fn request_context(identity: &RequestIdentity) -> RequestContext {
    RequestContext { request_id: Some(identity.as_str().to_owned()) }
}

/// A stored time as shown on pages: minutes, UTC.
fn format_time(time: NaiveDateTime) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::{PublicUrl, PublicUrlError};

    #[test]
    fn a_public_url_is_an_absolute_http_address_without_query() {
        assert!(PublicUrl::parse(None).is_ok_and(|url| url.0.is_none()));
        assert!(PublicUrl::parse(Some(" ")).is_ok_and(|url| url.0.is_none()), "blank is unset");
        assert!(PublicUrl::parse(Some("https://caravan.example.com")).is_ok());
        assert!(PublicUrl::parse(Some("http://10.0.0.5:8080/caravan/")).is_ok());
        assert!(matches!(PublicUrl::parse(Some("caravan.example.com")), Err(PublicUrlError::NotAUrl { .. })));
        assert!(matches!(
            PublicUrl::parse(Some("ftp://caravan.example.com")),
            Err(PublicUrlError::NotABase(_))
        ));
        assert!(matches!(
            PublicUrl::parse(Some("https://caravan.example.com/?next=1")),
            Err(PublicUrlError::NotABase(_))
        ));
    }
}
