//! Members and invitations: owners see who belongs to the tenant and invite people with a
//! role; the invitation link is shown once, for the owner to send.

use super::form::FormFields;
use super::page::{PageError, layout};
use super::session::{CSRF_FIELD, SignedIn};
use super::{format_time, request_context};
use crate::error::PortalError;
use crate::service::members::{self, Role};
use actix_web::{HttpRequest, HttpResponse, web};
use caravan_core::{Database, RequestIdentity, Scope};
use maud::html;

pub async fn show_members(
    signed_in: SignedIn,
    database: web::Data<Database>,
) -> Result<HttpResponse, PageError> {
    signed_in.principal.require(Scope::Admin)?;
    let principal = signed_in.principal.clone();
    let (people, invitations) = database.run(move |connection| members::list(connection, &principal)).await?;
    let content = html! {
        table {
            thead { tr { th { "Name" } th { "E-mail" } th { "Role" } th { "Joined" } th { "Last sign-in" } } }
            tbody {
                @for member in &people {
                    tr {
                        td { (member.display_name) }
                        td { (member.email) }
                        td { (member.role) }
                        td { (format_time(member.created_at)) }
                        td { (member.last_sign_in_at.map(format_time).unwrap_or_else(|| "never".to_owned())) }
                    }
                }
            }
        }
        h2 { "Open invitations" }
        @if invitations.is_empty() { p { "None." } }
        @else {
            table {
                thead { tr { th { "E-mail" } th { "Role" } th { "Expires" } } }
                tbody { @for invitation in &invitations {
                    tr { td { (invitation.email) } td { (invitation.role) } td { (format_time(invitation.expires_at)) } }
                } }
            }
        }
        form method="post" action="/portal/members/invitations" {
            (signed_in.csrf_field())
            fieldset {
                legend { "Invite someone" }
                label { "E-mail address " input type="email" name="email" required; }
                label { "Role "
                    select name="role" { @for role in Role::ALL { option value=(role.as_str()) { (role.as_str()) } } }
                }
                button type="submit" { "Invite" }
            }
        }
    };
    Ok(layout(&signed_in, "members", "Members", content))
}

pub async fn invite_member(
    signed_in: SignedIn,
    request: HttpRequest,
    identity: RequestIdentity,
    database: web::Data<Database>,
    form: FormFields,
) -> Result<HttpResponse, PageError> {
    signed_in.check_csrf(form.get(CSRF_FIELD))?;
    let role = Role::parse(form.text("role"))
        .ok_or_else(|| PortalError::InvalidMember(format!("`{}` is not a role", form.text("role"))))?;
    let email = form.text("email").to_owned();
    let context = request_context(&identity);
    let principal = signed_in.principal.clone();
    let now = caravan_core::db::now();
    let link = database
        .run(move |connection| members::invite(connection, &principal, None, &email, role, &context, now))
        .await?;
    let url = super::invitation_url(&request, &link.token);
    let content = html! {
        p class="notice" role="status" {
            "Send this link to " strong { (link.invitation.email) } ". It works once, until "
            (format_time(link.invitation.expires_at)) ", and is shown only now."
        }
        label { "Invitation link " input class="secret" type="text" readonly value=(url); }
        p { a href="/portal/members" { "Back to the members" } }
    };
    Ok(layout(&signed_in, "members", "Invitation created", content))
}
