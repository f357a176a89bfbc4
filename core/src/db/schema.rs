//! The one diesel schema both backends share. Types are the ones SQLite and PostgreSQL
//! agree on: `Text` for ids and enums, `Timestamp` (UTC) for times, `BigInt` for counts,
//! sequences and integer minor units of money.

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        plan -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        environment -> Text,
        scopes -> Text,
        capsule_patterns -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_key_secrets (secret_hash) {
        secret_hash -> Text,
        key_id -> Text,
        prefix -> Text,
        created_at -> Timestamp,
        valid_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (sequence) {
        sequence -> BigInt,
        id -> Text,
        tenant_id -> Nullable<Text>,
        actor -> Text,
        action -> Text,
        target -> Text,
        details -> Text,
        request_id -> Nullable<Text>,
        occurred_at -> Timestamp,
        previous_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    namespaces (name) {
        name -> Text,
        tenant_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    publisher_keys (id) {
        id -> Text,
        namespace -> Text,
        name -> Text,
        public_key_pem -> Text,
        fingerprint -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(namespaces -> tenants (tenant_id));
diesel::joinable!(publisher_keys -> namespaces (namespace));
diesel::joinable!(api_key_secrets -> api_keys (key_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    api_keys,
    api_key_secrets,
    audit_events,
    namespaces,
    publisher_keys
);
