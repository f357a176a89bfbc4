//! Prefixed ULID identifiers (`ten_01J…`, `req_01J…`): sortable by creation time, unique
//! without coordination, and self-describing in logs and support tickets.
//!
//! Each kind of object gets its own newtype from [`prefixed_id!`], so a tenant id can never
//! be passed where a key id is expected. They are stored as `TEXT` on both backends.

use thiserror::Error;

pub use ulid::Ulid;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IdError {
    #[error("expected an id starting with `{expected}_`")]
    WrongPrefix { expected: &'static str },
    #[error("`{0}` is not a valid ULID")]
    InvalidUlid(String),
}

/// Splits `prefix_ULID` and checks both halves; shared by every generated id type.
pub fn parse_prefixed(input: &str, prefix: &'static str) -> Result<Ulid, IdError> {
    let rest = input
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .ok_or(IdError::WrongPrefix { expected: prefix })?;
    Ulid::from_string(rest).map_err(|_| IdError::InvalidUlid(rest.to_owned()))
}

/// `prefix_ULID`, written without the formatting machinery: ids are made on hot paths (a
/// request id per request, an execution id per run).
pub fn prefixed_ulid(prefix: &str, ulid: Ulid) -> String {
    let mut encoded = [0; ulid::ULID_LEN];
    let mut id = String::with_capacity(prefix.len() + 1 + ulid::ULID_LEN);
    id.push_str(prefix);
    id.push('_');
    id.push_str(ulid.array_to_str(&mut encoded));
    id
}

/// Declares a prefixed id newtype with parsing, display, serde and diesel `Text` support.
///
/// ```
/// caravan_core::prefixed_id!(
///     /// Identifies a widget.
///     WidgetId, "wid"
/// );
/// let id = WidgetId::new();
/// assert!(id.as_str().starts_with("wid_"));
/// assert_eq!(WidgetId::parse(id.as_str()), Ok(id));
/// ```
#[macro_export]
macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::diesel::expression::AsExpression, ::diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = ::diesel::sql_types::Text)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with, without the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id, ordered after every id made earlier on this machine's clock.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self($crate::id::prefixed_ulid($prefix, $crate::id::Ulid::new()))
            }

            /// Parses an id received from outside, checking prefix and ULID.
            pub fn parse(input: &str) -> Result<Self, $crate::id::IdError> {
                $crate::id::parse_prefixed(input, $prefix).map(|ulid| Self(format!("{}_{}", $prefix, ulid)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The 128-bit ULID inside: a compact, allocation-free key for maps that hold
            /// millions of ids (rate limiters).
            pub fn ulid(&self) -> $crate::id::Ulid {
                // Ids are valid by construction, so the fallback is never taken.
                $crate::id::Ulid::from_string(&self.0[$prefix.len() + 1..]).unwrap_or_default()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::id::IdError;
            fn from_str(input: &str) -> Result<Self, Self::Err> {
                Self::parse(input)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(deserializer)?;
                Self::parse(&raw).map_err(::serde::de::Error::custom)
            }
        }

        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "_[0-9A-HJKMNP-TV-Z]{26}$")))
                    .examples([concat!($prefix, "_01JD8X3ZQK9V6R2N4T7W5YB1CM")])
                    .into()
            }
        }

        impl ::utoipa::ToSchema for $name {}

        impl<DB> ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB> for $name
        where
            DB: ::diesel::backend::Backend,
            str: ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut ::diesel::serialize::Output<'b, '_, DB>) -> ::diesel::serialize::Result {
                <str as ::diesel::serialize::ToSql<::diesel::sql_types::Text, DB>>::to_sql(self.0.as_str(), out)
            }
        }

        impl<DB> ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB> for $name
        where
            DB: ::diesel::backend::Backend,
            String: ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> ::diesel::deserialize::Result<Self> {
                let raw = <String as ::diesel::deserialize::FromSql<::diesel::sql_types::Text, DB>>::from_sql(bytes)?;
                Ok(Self::parse(&raw)?)
            }
        }
    };
}

prefixed_id!(
    /// Identifies one HTTP request in logs, metrics exemplars and error reports.
    RequestId, "req"
);

prefixed_id!(
    /// Identifies a tenant: an organisation that owns keys, capsules, usage and invoices.
    TenantId, "ten"
);

prefixed_id!(
    /// Identifies an API key (not its secret, which changes on rotation).
    ApiKeyId, "key"
);

prefixed_id!(
    /// Identifies one entry of the audit log.
    AuditEventId, "aud"
);

prefixed_id!(
    /// Identifies a publisher's registered signing key.
    PublisherKeyId, "pkey"
);

prefixed_id!(
    /// Identifies one published version of a capsule.
    CapsuleVersionId, "cver"
);

prefixed_id!(
    /// Identifies an invoice: one tenant, one billing period.
    InvoiceId, "inv"
);

prefixed_id!(
    /// Identifies one line of an invoice.
    InvoiceLineId, "inl"
);

prefixed_id!(
    /// Identifies one execution of a capsule.
    ExecutionId, "exe"
);

prefixed_id!(
    /// Identifies one webhook delivery (its attempts share it).
    DeliveryId, "whd"
);

prefixed_id!(
    /// Identifies an event sent to a webhook; receivers drop repeats of one id.
    WebhookEventId, "evt"
);

prefixed_id!(
    /// Identifies a webhook signing secret.
    WebhookSecretId, "whs"
);

prefixed_id!(
    /// Identifies a worker backend registered through the API.
    WorkerId, "wrk"
);

prefixed_id!(
    /// Identifies a person who signs in to the web portal.
    MemberId, "mem"
);

prefixed_id!(
    /// Identifies an invitation to become a member.
    InvitationId, "ivt"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_id_round_trips_through_parse() {
        let id = RequestId::new();
        assert_eq!(RequestId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(format!("req_{}", id.ulid()), id.as_str());
    }

    #[test]
    fn parse_refuses_another_kinds_prefix() {
        let error = RequestId::parse("ten_01JD8X3ZQK9V6R2N4T7W5YB1CM");
        assert_eq!(error, Err(IdError::WrongPrefix { expected: "req" }));
    }

    #[test]
    fn parse_refuses_a_broken_ulid() {
        assert!(matches!(RequestId::parse("req_nope"), Err(IdError::InvalidUlid(_))));
        assert!(matches!(RequestId::parse("req"), Err(IdError::WrongPrefix { .. })));
    }

    #[test]
    fn ids_deserialize_only_when_valid() {
        let ok: Result<RequestId, _> = serde_json::from_str("\"req_01JD8X3ZQK9V6R2N4T7W5YB1CM\"");
        assert!(ok.is_ok());
        let bad: Result<RequestId, _> = serde_json::from_str("\"req_01JD8\"");
        assert!(bad.is_err());
    }
}
