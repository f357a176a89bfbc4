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

diesel::table! {
    capsules (name) {
        name -> Text,
        namespace -> Text,
        tenant_id -> Text,
        description -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    capsule_versions (id) {
        id -> Text,
        capsule_name -> Text,
        version -> Text,
        manifest -> Text,
        readme -> Text,
        license -> Text,
        tier -> Text,
        digest -> Text,
        size_bytes -> BigInt,
        unpacked_bytes -> BigInt,
        file_count -> BigInt,
        signature -> Text,
        signer_key_id -> Text,
        sbom_digest -> Nullable<Text>,
        sbom_spec_version -> Nullable<Text>,
        sbom_component_count -> Nullable<BigInt>,
        sbom_licenses -> Text,
        admission -> Text,
        published_by -> Text,
        published_at -> Timestamp,
        yanked_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
        deprecated_message -> Nullable<Text>,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(namespaces -> tenants (tenant_id));
diesel::joinable!(publisher_keys -> namespaces (namespace));
diesel::joinable!(api_key_secrets -> api_keys (key_id));
diesel::joinable!(capsules -> namespaces (namespace));
diesel::joinable!(capsule_versions -> capsules (capsule_name));
diesel::joinable!(capsule_versions -> publisher_keys (signer_key_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    api_keys,
    api_key_secrets,
    audit_events,
    namespaces,
    publisher_keys,
    capsules,
    capsule_versions
);
