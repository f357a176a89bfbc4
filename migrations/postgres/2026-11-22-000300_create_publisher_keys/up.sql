-- A namespace (the `acme` of `acme/echo`) belongs to the first tenant that registers a
-- signing key for it; only that tenant's live keys may sign capsules published there.
CREATE TABLE namespaces (
    name TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX namespaces_by_tenant ON namespaces (tenant_id);

-- Public keys that sign a namespace's capsules. Retired keys no longer sign new
-- versions; versions they signed stay valid.
CREATE TABLE publisher_keys (
    id TEXT PRIMARY KEY NOT NULL,
    namespace TEXT NOT NULL REFERENCES namespaces (name),
    name TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP,
    UNIQUE (namespace, fingerprint)
);
CREATE INDEX publisher_keys_by_namespace ON publisher_keys (namespace, id);
