-- An API key is an identity with scopes; its secrets live in api_key_secrets so that
-- rotation keeps the key id (and its history) while the old secret lives out a grace
-- period. Only the SHA-256 of a secret is stored, with a short visible prefix for lookup.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    environment TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    scopes TEXT NOT NULL,
    capsule_patterns TEXT NOT NULL DEFAULT '',
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, id);

CREATE TABLE api_key_secrets (
    secret_hash TEXT PRIMARY KEY NOT NULL,
    key_id TEXT NOT NULL REFERENCES api_keys (id),
    prefix TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    valid_until TIMESTAMP
);
CREATE INDEX api_key_secrets_by_prefix ON api_key_secrets (prefix);
CREATE INDEX api_key_secrets_by_key ON api_key_secrets (key_id);
