-- Tenants are the organisations that own keys, capsules, usage and invoices; every
-- other table is scoped by one. The single 'operator' tenant runs the installation.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'customer' CHECK (kind IN ('operator', 'customer')),
    plan TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX tenants_single_operator ON tenants (kind) WHERE kind = 'operator';
