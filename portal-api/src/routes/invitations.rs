//! `POST /v1/invitations`: invite a person to sign in to the web portal.

use crate::service::members::{self, Role};
use actix_web::{HttpRequest, HttpResponse, web};
use caravan_core::error::responses::{
    BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, Unprocessable,
};
use caravan_core::id::{InvitationId, TenantId};
use caravan_core::{ApiError, Database, JsonObject, Principal, RequestIdentity};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "email": "ada@example.com", "role": "owner" }))]
pub struct CreateInvitationRequest {
    /// The address the person will sign in with.
    #[schema(max_length = 254)]
    pub email: String,
    /// `owner` (everything), `developer` (keys, publishing, usage) or `billing` (usage,
    /// invoices).
    #[schema(pattern = "^(owner|developer|billing)$")]
    pub role: String,
    /// Invite to another tenant (operator only): how a tenant gets its first owner.
    pub tenant_id: Option<TenantId>,
}

/// An invitation and its one-time link.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvitation {
    #[schema(value_type = String, example = "ivt_01JD8X3ZQK9V6R2N4T7W5YB1CM")]
    pub id: InvitationId,
    pub tenant_id: TenantId,
    pub email: String,
    pub role: String,
    #[serde(with = "caravan_core::utc")]
    pub expires_at: NaiveDateTime,
    /// Opens the page where the person chooses a name and password; works once. Shown in
    /// this response only.
    pub url: String,
}

/// Invite a portal member
///
/// Needs `admin`. The link in the answer works once, for seven days, and is shown only
/// here: Caravan keeps its hash.
#[utoipa::path(
    post,
    path = "/v1/invitations",
    operation_id = "create_invitation",
    tag = "members",
    request_body = CreateInvitationRequest,
    responses((status = 201, description = "Invited", body = CreatedInvitation), BadRequest, Unauthorized, Forbidden,
        NotFound, Conflict, Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn create_invitation(
    principal: Principal,
    request: HttpRequest,
    identity: RequestIdentity,
    database: web::Data<Database>,
    body: JsonObject<CreateInvitationRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let role = Role::parse(&body.role)
        .ok_or_else(|| crate::error::PortalError::InvalidMember(format!("`{}` is not a role", body.role)))?;
    let context = super::context(&identity);
    let now = caravan_core::db::now();
    let link = database
        .run(move |connection| {
            members::invite(connection, &principal, body.tenant_id.as_ref(), &body.email, role, &context, now)
        })
        .await?;
    let url = crate::web::invitation_url(&request, &link.token);
    let invitation = link.invitation;
    Ok(HttpResponse::Created().json(CreatedInvitation {
        id: invitation.id,
        tenant_id: invitation.tenant_id,
        email: invitation.email,
        role: invitation.role,
        expires_at: invitation.expires_at,
        url,
    }))
}
