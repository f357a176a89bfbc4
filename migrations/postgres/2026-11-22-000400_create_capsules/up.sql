-- A capsule is a name (`acme/echo`) in a namespace; its versions are immutable once
-- published. Bundles and SBOMs live in the blob store under their SHA-256 digests.
CREATE TABLE capsules (
    name TEXT PRIMARY KEY NOT NULL,
    namespace TEXT NOT NULL REFERENCES namespaces (name),
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    description TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX capsules_by_namespace ON capsules (namespace);

CREATE TABLE capsule_versions (
    id TEXT PRIMARY KEY NOT NULL,
    capsule_name TEXT NOT NULL REFERENCES capsules (name),
    version TEXT NOT NULL,
    -- The manifest as validated, in JSON.
    manifest TEXT NOT NULL,
    readme TEXT NOT NULL,
    license TEXT NOT NULL,
    tier TEXT NOT NULL,
    digest TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    unpacked_bytes BIGINT NOT NULL,
    file_count BIGINT NOT NULL,
    signature TEXT NOT NULL,
    signer_key_id TEXT NOT NULL REFERENCES publisher_keys (id),
    -- NULL when the admission policy let the version in without an SBOM.
    sbom_digest TEXT,
    sbom_spec_version TEXT,
    sbom_component_count BIGINT,
    -- JSON array of the distinct licenses the SBOM's components declare.
    sbom_licenses TEXT NOT NULL,
    -- JSON: every admission check with its outcome.
    admission TEXT NOT NULL,
    published_by TEXT NOT NULL,
    published_at TIMESTAMP NOT NULL,
    yanked_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revoked_reason TEXT,
    deprecated_message TEXT,
    UNIQUE (capsule_name, version)
);
CREATE INDEX capsule_versions_by_digest ON capsule_versions (digest);
