//! Signing in, signing out, and accepting an invitation (which signs the new member in).

use super::form::FormFields;
use super::page::{PageError, bare, see_other};
use super::request_context;
use super::session::{self, CSRF_FIELD, SignedIn, csrf_field};
use super::throttle::SignInThrottle;
use crate::db::members::MemberRow;
use crate::error::PortalError;
use crate::service::members::{self, Acceptance, LOCKOUT, MAX_FAILED_SIGN_INS, MIN_PASSWORD_CHARS};
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use caravan_core::{Database, RequestIdentity};
use maud::{Markup, html};

pub async fn show_sign_in(session: Session) -> HttpResponse {
    sign_in_page(StatusCode::OK, &session::visitor_csrf(&session), None)
}

pub async fn sign_in(
    request: HttpRequest,
    session: Session,
    database: web::Data<Database>,
    throttle: web::Data<SignInThrottle>,
    form: FormFields,
) -> Result<HttpResponse, PageError> {
    session::check_csrf(&session, form.get(CSRF_FIELD))?;
    let client = throttle.client_of(&request);
    if let Some(Err(wait_s)) = client.map(|client| throttle.attempt(client)) {
        let refusal = format!("Too many sign-in attempts from your address: try again in {wait_s} s.");
        let csrf = session::visitor_csrf(&session);
        let mut page = sign_in_page(StatusCode::TOO_MANY_REQUESTS, &csrf, Some(&refusal));
        page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait_s));
        return Ok(page);
    }
    let signed =
        sign_in_with(&database, form.text("email").to_owned(), form.text("password").to_owned()).await;
    match signed {
        Ok(member) => {
            session::begin(&session, &member)?;
            Ok(see_other("/portal"))
        }
        Err(error) => {
            let error = caravan_core::ApiError::from(error);
            let status = error.kind().status();
            if status.is_server_error() {
                return Err(error.into());
            }
            Ok(sign_in_page(status, &session::visitor_csrf(&session), Some(&error.to_string())))
        }
    }
}

/// Finds the member, checks the password on the blocking pool without holding a database
/// connection, then records the outcome.
async fn sign_in_with(
    database: &Database,
    email: String,
    password: String,
) -> Result<MemberRow, PortalError> {
    let now = caravan_core::db::now();
    let candidate = database.run(move |connection| members::candidate(connection, &email, now)).await?;
    let (candidate, matched) = web::block(move || {
        let matched = members::password_matches(&candidate, &password);
        (candidate, matched)
    })
    .await
    .map_err(|_| PortalError::Database(caravan_core::DbError::Interrupted))?;
    database.run(move |connection| members::conclude(connection, candidate, matched, now)).await
}

fn sign_in_page(status: StatusCode, csrf: &str, refusal: Option<&str>) -> HttpResponse {
    bare(
        status,
        "Sign in",
        html! {
            (refusal_notice(refusal))
            form method="post" action="/portal/sign-in" {
                (csrf_field(csrf))
                label { "E-mail address " input type="email" name="email" autocomplete="username" required; }
                label { "Password " input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Sign in" }
            }
            p { "After " (MAX_FAILED_SIGN_INS) " failed attempts in a row, signing in to that address pauses for "
                (LOCKOUT.num_minutes()) " minutes." }
        },
    )
}

fn refusal_notice(refusal: Option<&str>) -> Markup {
    html! { @if let Some(refusal) = refusal { p class="error" role="alert" { (refusal) } } }
}

pub async fn sign_out(
    signed_in: Option<SignedIn>,
    session: Session,
    database: web::Data<Database>,
    form: FormFields,
) -> Result<HttpResponse, PageError> {
    session::check_csrf(&session, form.get(CSRF_FIELD))?;
    match signed_in {
        Some(signed_in) => session::end_everywhere(&signed_in, &database).await?,
        None => session::end(&session),
    }
    Ok(see_other("/portal/sign-in"))
}

pub async fn show_invitation(
    session: Session,
    token: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, PageError> {
    let token = token.into_inner();
    let now = caravan_core::db::now();
    let invitation =
        database.run(move |connection| members::open_invitation(connection, &token, now)).await?;
    Ok(invitation_page(
        StatusCode::OK,
        &session::visitor_csrf(&session),
        &invitation.email,
        &invitation.role,
        None,
    ))
}

pub async fn accept_invitation(
    session: Session,
    token: web::Path<String>,
    identity: RequestIdentity,
    database: web::Data<Database>,
    form: FormFields,
) -> Result<HttpResponse, PageError> {
    session::check_csrf(&session, form.get(CSRF_FIELD))?;
    let token = token.into_inner();
    if form.text("password") != form.text("password_again") {
        return refuse_acceptance(&session, &database, token, "the two passwords differ").await;
    }
    let password = form.text("password").to_owned();
    let hashed = web::block(move || members::hash_password(&password))
        .await
        .map_err(|_| PortalError::Database(caravan_core::DbError::Interrupted))?;
    let password_hash = match hashed {
        Ok(hash) => hash,
        Err(PortalError::InvalidMember(refusal)) => {
            return refuse_acceptance(&session, &database, token, &refusal).await;
        }
        Err(other) => return Err(other.into()),
    };
    let acceptance = Acceptance {
        email: form.get("email").map(str::to_owned),
        display_name: form.text("display_name").to_owned(),
        password_hash,
    };
    let context = request_context(&identity);
    let now = caravan_core::db::now();
    let accepting = token.clone();
    let accepted = database
        .run(move |connection| members::accept(connection, &accepting, acceptance, &context, now))
        .await;
    match accepted {
        Ok(member) => {
            session::begin(&session, &member)?;
            Ok(see_other("/portal"))
        }
        Err(error) => {
            let error = caravan_core::ApiError::from(error);
            if error.kind().status() == StatusCode::UNPROCESSABLE_ENTITY
                || error.kind().status() == StatusCode::CONFLICT
            {
                return refuse_acceptance(&session, &database, token, &error.to_string()).await;
            }
            Err(error.into())
        }
    }
}

/// Shows the invitation form again with what was wrong.
async fn refuse_acceptance(
    session: &Session,
    database: &Database,
    token: String,
    refusal: &str,
) -> Result<HttpResponse, PageError> {
    let now = caravan_core::db::now();
    let invitation =
        database.run(move |connection| members::open_invitation(connection, &token, now)).await?;
    let csrf = session::visitor_csrf(session);
    Ok(invitation_page(
        StatusCode::UNPROCESSABLE_ENTITY,
        &csrf,
        &invitation.email,
        &invitation.role,
        Some(refusal),
    ))
}

fn invitation_page(
    status: StatusCode,
    csrf: &str,
    email: &str,
    role: &str,
    refusal: Option<&str>,
) -> HttpResponse {
    bare(
        status,
        "Join Caravan",
        html! {
            (refusal_notice(refusal))
            p { "You are invited as " strong { (role) } ". Choose your name and a password to sign in with." }
            form method="post" {
                (csrf_field(csrf))
                @if email.is_empty() {
                    label { "E-mail address " input type="email" name="email" autocomplete="username" required; }
                } @else {
                    p { "E-mail address: " strong { (email) } }
                }
                label { "Your name " input type="text" name="display_name" autocomplete="name" maxlength="100" required; }
                label {
                    "Password (at least " (MIN_PASSWORD_CHARS) " characters) "
                    input type="password" name="password" autocomplete="new-password" minlength=(MIN_PASSWORD_CHARS) required;
                }
                label { "The same password again " input type="password" name="password_again" autocomplete="new-password" required; }
                button type="submit" { "Join" }
            }
        },
    )
}
