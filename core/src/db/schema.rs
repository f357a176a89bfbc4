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

diesel::table! {
    usage_events (tenant_id, source, event_id) {
        tenant_id -> Text,
        source -> Text,
        event_id -> Text,
        event_type -> Text,
        occurred_at -> Timestamp,
        received_at -> Timestamp,
        capsule -> Nullable<Text>,
        api_key_id -> Nullable<Text>,
        event -> Text,
    }
}

diesel::table! {
    usage_rollups (tenant_id, meter, granularity, bucket, capsule, api_key_id, group_key, unit_price, shard) {
        tenant_id -> Text,
        meter -> Text,
        granularity -> Text,
        bucket -> Timestamp,
        capsule -> Text,
        api_key_id -> Text,
        group_key -> Text,
        unit_price -> Text,
        quantity_micros -> BigInt,
        max_micros -> BigInt,
        readings -> BigInt,
        shard -> SmallInt,
    }
}

diesel::table! {
    usage_distinct_values (tenant_id, meter, bucket, capsule, api_key_id, group_key, value) {
        tenant_id -> Text,
        meter -> Text,
        bucket -> Timestamp,
        capsule -> Text,
        api_key_id -> Text,
        group_key -> Text,
        value -> Text,
    }
}

diesel::table! {
    billing_periods (period) {
        period -> Text,
        closed_at -> Timestamp,
        closed_by -> Text,
        invoice_count -> BigInt,
    }
}

diesel::table! {
    invoices (id) {
        id -> Text,
        tenant_id -> Text,
        period -> Text,
        plan -> Text,
        currency -> Text,
        status -> Text,
        total_minor -> BigInt,
        created_at -> Timestamp,
        paid_at -> Nullable<Timestamp>,
        voided_at -> Nullable<Timestamp>,
        void_reason -> Nullable<Text>,
        stripe_status -> Text,
        stripe_invoice_id -> Nullable<Text>,
        stripe_hosted_url -> Nullable<Text>,
        stripe_synced_at -> Nullable<Timestamp>,
        stripe_error -> Nullable<Text>,
    }
}

diesel::table! {
    invoice_lines (id) {
        id -> Text,
        invoice_id -> Text,
        position -> BigInt,
        kind -> Text,
        meter -> Nullable<Text>,
        capsule -> Nullable<Text>,
        description -> Text,
        quantity -> Text,
        unit_price -> Text,
        amount_minor -> BigInt,
        stripe_invoice_item_id -> Nullable<Text>,
    }
}

diesel::table! {
    stripe_customers (tenant_id) {
        tenant_id -> Text,
        customer_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    stripe_requests (idempotency_key) {
        idempotency_key -> Text,
        invoice_id -> Nullable<Text>,
        operation -> Text,
        requested_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        stripe_object_id -> Nullable<Text>,
    }
}

diesel::table! {
    stripe_events (event_id) {
        event_id -> Text,
        event_type -> Text,
        received_at -> Timestamp,
        outcome -> Text,
    }
}

diesel::table! {
    executions (id) {
        id -> Text,
        tenant_id -> Text,
        api_key_id -> Text,
        capsule -> Text,
        version -> Text,
        digest -> Text,
        tier -> Text,
        mode -> Text,
        status -> Text,
        idempotency_key -> Nullable<Text>,
        request_hash -> Text,
        input -> Text,
        output -> Nullable<Text>,
        error -> Nullable<Text>,
        worker_id -> Nullable<Text>,
        webhook_url -> Nullable<Text>,
        unit_price -> Nullable<Text>,
        tokens_in -> BigInt,
        tokens_out -> BigInt,
        tool_calls -> BigInt,
        job_micros -> BigInt,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        duration_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        tenant_id -> Text,
        execution_id -> Text,
        event_id -> Text,
        event_type -> Text,
        url -> Text,
        payload -> Text,
        attempts -> BigInt,
        next_attempt_at -> Nullable<Timestamp>,
        delivered_at -> Nullable<Timestamp>,
        last_status -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_secrets (id) {
        id -> Text,
        tenant_id -> Text,
        secret -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    workers (id) {
        id -> Text,
        url -> Text,
        tier -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    catalog_entries (name) {
        name -> Text,
        publisher -> Text,
        version -> Text,
        description -> Text,
        downloads_a_month -> BigInt,
        imported_at -> Timestamp,
    }
}

diesel::table! {
    capsule_stats (capsule) {
        capsule -> Text,
        window_days -> BigInt,
        executions -> BigInt,
        succeeded -> BigInt,
        success_lower_bound -> Double,
        p50_ms -> BigInt,
        p95_ms -> BigInt,
        mean_cost -> Text,
        last_execution_at -> Nullable<Timestamp>,
        quality -> Double,
        computed_at -> Timestamp,
    }
}

diesel::table! {
    capsule_performance (capsule, day, unit_price, latency_bucket, shard) {
        capsule -> Text,
        day -> Timestamp,
        unit_price -> Text,
        latency_bucket -> Integer,
        shard -> SmallInt,
        executions -> BigInt,
        succeeded -> BigInt,
        last_ended_at -> Timestamp,
    }
}

diesel::table! {
    members (id) {
        id -> Text,
        tenant_id -> Text,
        email -> Text,
        display_name -> Text,
        role -> Text,
        password_hash -> Text,
        failed_sign_ins -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        last_sign_in_at -> Nullable<Timestamp>,
        session_epoch -> Integer,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        tenant_id -> Text,
        email -> Text,
        role -> Text,
        token_hash -> Text,
        invited_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(members -> tenants (tenant_id));
diesel::joinable!(invitations -> tenants (tenant_id));
diesel::joinable!(namespaces -> tenants (tenant_id));
diesel::joinable!(publisher_keys -> namespaces (namespace));
diesel::joinable!(api_key_secrets -> api_keys (key_id));
diesel::joinable!(capsules -> namespaces (namespace));
diesel::joinable!(capsule_versions -> capsules (capsule_name));
diesel::joinable!(capsule_versions -> publisher_keys (signer_key_id));
diesel::joinable!(usage_events -> tenants (tenant_id));
diesel::joinable!(invoices -> tenants (tenant_id));
diesel::joinable!(invoice_lines -> invoices (invoice_id));
diesel::joinable!(stripe_customers -> tenants (tenant_id));
diesel::joinable!(executions -> tenants (tenant_id));
diesel::joinable!(webhook_deliveries -> executions (execution_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    api_keys,
    api_key_secrets,
    audit_events,
    namespaces,
    publisher_keys,
    capsules,
    capsule_versions,
    usage_events,
    usage_rollups,
    usage_distinct_values,
    billing_periods,
    invoices,
    invoice_lines,
    stripe_customers,
    stripe_requests,
    stripe_events,
    executions,
    webhook_deliveries,
    webhook_secrets,
    workers,
    catalog_entries,
    capsule_stats,
    capsule_performance,
    members,
    invitations
);
