//! What the portal refuses, and how each refusal looks to a client.

use caravan_core::{AuthError, DbError, ErrorKind, Problematic};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    InvalidTenantName(String),
    #[error("there is no plan `{plan}`; plans are: {known}")]
    UnknownPlan { plan: String, known: String },
    #[error("tenant {0} not found")]
    TenantNotFound(String),
    #[error("API key {0} not found")]
    KeyNotFound(String),
    #[error("a key cannot hold scopes its creator lacks: {}", .missing.join(", "))]
    ScopeEscalation { missing: Vec<String> },
    #[error("{0}")]
    InvalidKeyRequest(String),
    #[error("API key {0} is revoked")]
    KeyRevoked(String),
    #[error("the operator tenant cannot be suspended")]
    OperatorProtected,
    #[error("`{0}` is not a namespace: 1 to 64 characters of a-z, 0-9 and inner `-`")]
    InvalidNamespace(String),
    #[error("namespace `{0}` belongs to another tenant")]
    NamespaceTaken(String),
    #[error("namespace `{0}` not found")]
    NamespaceNotFound(String),
    #[error("publisher key {0} not found")]
    PublisherKeyNotFound(String),
    #[error(transparent)]
    PublicKey(#[from] caravan_registry::signing::SigningError),
    #[error("this public key is registered for `{0}` already")]
    PublisherKeyExists(String),
    #[error("namespace `{0}` is outside this key's capsule patterns")]
    OutsidePatterns(String),
    #[error("the cursor is not valid for this list")]
    InvalidCursor,
    #[error("{0}")]
    InvalidPage(String),
    #[error("{0}")]
    InvalidMember(String),
    #[error("a member with the address {0} exists already")]
    MemberExists(String),
    #[error("a password could not be hashed: {0}")]
    PasswordHashing(String),
    #[error("this invitation link is not valid: it was used already, has expired or never existed")]
    InvitationInvalid,
    #[error(
        "the address or the password is not right, or signing in to that address is paused after repeated failures"
    )]
    SignInRefused,
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for PortalError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(DbError::Query(error))
    }
}

impl Problematic for PortalError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Auth(error) => error.kind(),
            Self::InvalidTenantName(_) | Self::UnknownPlan { .. } | Self::InvalidKeyRequest(_) => {
                ErrorKind::Unprocessable
            }
            Self::TenantNotFound(_) | Self::KeyNotFound(_) => ErrorKind::NotFound,
            Self::ScopeEscalation { .. } => ErrorKind::Forbidden,
            Self::KeyRevoked(_) | Self::OperatorProtected => ErrorKind::Conflict,
            Self::InvalidNamespace(_) => ErrorKind::Unprocessable,
            Self::NamespaceTaken(_) | Self::PublisherKeyExists(_) => ErrorKind::Conflict,
            Self::NamespaceNotFound(_) | Self::PublisherKeyNotFound(_) => ErrorKind::NotFound,
            Self::PublicKey(error) => error.kind(),
            Self::OutsidePatterns(_) => ErrorKind::Forbidden,
            Self::InvalidCursor | Self::InvalidPage(_) => ErrorKind::BadRequest,
            Self::InvalidMember(_) => ErrorKind::Unprocessable,
            Self::MemberExists(_) => ErrorKind::Conflict,
            Self::InvitationInvalid => ErrorKind::NotFound,
            Self::PasswordHashing(_) => ErrorKind::Internal,
            Self::SignInRefused => ErrorKind::Unauthorized,
            Self::Database(error) => error.kind(),
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::Auth(error) => error.slug(),
            Self::InvalidTenantName(_) => "invalid-tenant-name",
            Self::UnknownPlan { .. } => "unknown-plan",
            Self::TenantNotFound(_) => "tenant-not-found",
            Self::KeyNotFound(_) => "api-key-not-found",
            Self::ScopeEscalation { .. } => "scope-escalation",
            Self::InvalidKeyRequest(_) => "invalid-api-key-request",
            Self::KeyRevoked(_) => "api-key-revoked",
            Self::OperatorProtected => "operator-tenant-protected",
            Self::InvalidNamespace(_) => "invalid-namespace",
            Self::NamespaceTaken(_) => "namespace-taken",
            Self::NamespaceNotFound(_) => "namespace-not-found",
            Self::PublisherKeyNotFound(_) => "publisher-key-not-found",
            Self::PublicKey(error) => error.slug(),
            Self::PublisherKeyExists(_) => "publisher-key-exists",
            Self::OutsidePatterns(_) => "outside-capsule-patterns",
            Self::InvalidCursor => "invalid-cursor",
            Self::InvalidPage(_) => "invalid-page",
            Self::InvalidMember(_) => "invalid-member",
            Self::MemberExists(_) => "member-exists",
            Self::PasswordHashing(_) => "internal",
            Self::InvitationInvalid => "invitation-invalid",
            Self::SignInRefused => "sign-in-refused",
            Self::Database(error) => error.slug(),
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Auth(error) => error.title(),
            Self::InvalidTenantName(_) => "Invalid tenant name",
            Self::UnknownPlan { .. } => "Unknown plan",
            Self::TenantNotFound(_) => "Tenant not found",
            Self::KeyNotFound(_) => "API key not found",
            Self::ScopeEscalation { .. } => "Scope escalation refused",
            Self::InvalidKeyRequest(_) => "Invalid API key request",
            Self::KeyRevoked(_) => "API key revoked",
            Self::OperatorProtected => "Operator tenant protected",
            Self::InvalidNamespace(_) => "Invalid namespace",
            Self::NamespaceTaken(_) => "Namespace taken",
            Self::NamespaceNotFound(_) => "Namespace not found",
            Self::PublisherKeyNotFound(_) => "Publisher key not found",
            Self::PublicKey(error) => error.title(),
            Self::PublisherKeyExists(_) => "Publisher key exists",
            Self::OutsidePatterns(_) => "Outside capsule patterns",
            Self::InvalidCursor => "Invalid cursor",
            Self::InvalidPage(_) => "Invalid page request",
            Self::InvalidMember(_) => "Invalid member",
            Self::MemberExists(_) => "Member exists",
            Self::PasswordHashing(_) => "Internal error",
            Self::InvitationInvalid => "Invitation not valid",
            Self::SignInRefused => "Sign-in refused",
            Self::Database(error) => error.title(),
        }
    }

    fn extensions(&self) -> Map<String, Value> {
        match self {
            Self::Auth(error) => error.extensions(),
            Self::ScopeEscalation { missing } => {
                Map::from_iter([("missing-scopes".to_owned(), Value::from(missing.clone()))])
            }
            _ => Map::new(),
        }
    }
}
