//! The page shell every portal page shares (navigation by role, sign-out, styles), the
//! HTML response, and [`PageError`]: how a refusal looks in the browser. A refusal keeps
//! the status the API would answer — another tenant's object is a 404 page, a missing
//! role a 403 page — and a signed-out visitor is sent to the sign-in page.

use super::session::SignedIn;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use caravan_core::{ApiError, Scope};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// What the browser may load: this origin only, inline styles, and no script but the copy
/// button's (allowed by its SHA-256); no framing.
static CONTENT_SECURITY_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let script = STANDARD.encode(Sha256::digest(super::keys::COPY_SCRIPT.as_bytes()));
    let policy = format!(
        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'sha256-{script}'; \
         img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
});

const STYLE: &str = r#"
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#1f2a44;color:#fff;padding:.5rem 1.5rem;display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap}
header a{color:#fff}header nav ul{display:flex;gap:1rem;list-style:none;margin:0;padding:0}
header a[aria-current=page]{font-weight:700;text-decoration:underline}
main{max-width:72rem;margin:1.5rem auto;padding:0 1.5rem}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5rem 0 1.5rem}
th,td{border:1px solid #d8dde3;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5}td.number{text-align:right;font-variant-numeric:tabular-nums}
form.inline{display:inline-flex;gap:.25rem;margin:.1rem 0}
fieldset{background:#fff;border:1px solid #d8dde3;margin:0 0 1.5rem}
label{display:block;margin:.4rem 0}input,select,textarea,button{font:inherit}
button{cursor:pointer}:focus-visible{outline:3px solid #3b82f6;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}
.secret{font-family:monospace;width:36rem;max-width:100%}
.notice{background:#fff7d6;border:1px solid #e6c200;padding:.5rem 1rem}
.error{background:#fde8e8;border:1px solid #d33;padding:.5rem 1rem}
figure{background:#fff;border:1px solid #d8dde3;margin:0 0 1.5rem;padding:.5rem}
"#;

/// The pages of the navigation: path under `/portal/`, label, and the scope that shows it.
pub const NAVIGATION: [(&str, &str, Scope); 6] = [
    ("keys", "API keys", Scope::KeysManage),
    ("publishing", "Publishing", Scope::RegistryPublish),
    ("usage", "Usage", Scope::UsageRead),
    ("invoices", "Invoices", Scope::BillingRead),
    ("audit", "Audit log", Scope::Admin),
    ("members", "Members", Scope::Admin),
];

/// The shell around a signed-in member's page; `current` is the navigation entry shown
/// as the current page.
pub fn layout(signed_in: &SignedIn, current: &str, title: &str, content: Markup) -> HttpResponse {
    let body = html! {
        header {
            strong { "Caravan" }
            nav aria-label="Portal" {
                ul {
                    @for (slug, label, scope) in NAVIGATION {
                        @if signed_in.principal.scopes.contains(scope) {
                            li { a href={ "/portal/" (slug) } aria-current=[(slug == current).then_some("page")] { (label) } }
                        }
                    }
                }
            }
            span { (signed_in.member.display_name) " (" (signed_in.role.as_str()) ", " (signed_in.tenant.name) ")" }
            form method="post" action="/portal/sign-out" class="inline" {
                (signed_in.csrf_field())
                button type="submit" { "Sign out" }
            }
        }
        main id="main" { h1 { (title) } (content) }
    };
    html_response(StatusCode::OK, title, body)
}

/// A page outside the signed-in shell (sign-in, invitations, errors).
pub fn bare(status: StatusCode, title: &str, content: Markup) -> HttpResponse {
    html_response(status, title, html! { main id="main" { h1 { (title) } (content) } })
}

fn html_response(status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Caravan portal" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                (body)
            }
        }
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY.clone()))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .body(page.into_string())
}

/// A `303 See Other` to `location`, the answer to a form that worked.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// Why a page cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("sign in to continue")]
    SignedOut,
    #[error("the form's security token is missing or stale: reload the page and send it again")]
    Csrf,
    #[error("{0}")]
    Refused(ApiError),
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self::Refused(error)
    }
}

impl From<diesel::result::Error> for PageError {
    fn from(error: diesel::result::Error) -> Self {
        Self::from(crate::error::PortalError::from(error))
    }
}

macro_rules! refused_from {
    ($($error:ty),*) => {$(
        impl From<$error> for PageError {
            fn from(error: $error) -> Self {
                Self::Refused(error.into())
            }
        }
    )*};
}

refused_from!(
    crate::error::PortalError,
    caravan_registry::error::RegistryError,
    caravan_metering::error::MeteringError,
    caravan_core::DbError,
    caravan_core::AuthError
);

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignedOut => StatusCode::SEE_OTHER,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::Refused(error) => error.kind().status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignedOut => see_other("/portal/sign-in"),
            Self::Csrf => refusal(StatusCode::FORBIDDEN, "Form refused", &self.to_string()),
            Self::Refused(error) => {
                let problem = error.problem();
                let mut response = refusal(
                    error.kind().status(),
                    &problem.title,
                    problem.detail.as_deref().unwrap_or_default(),
                );
                // The request logger records a server error's cause, as for the API.
                if let Some(cause) = error.error_response().extensions().get::<caravan_core::ErrorCause>() {
                    response.extensions_mut().insert(cause.clone());
                }
                response
            }
        }
    }
}

fn refusal(status: StatusCode, title: &str, detail: &str) -> HttpResponse {
    bare(
        status,
        title,
        html! {
            p class="error" role="alert" { (detail) }
            p { a href="/portal" { "Back to the portal" } }
        },
    )
}
