-- People who sign in to the web portal. Each belongs to one tenant with a role; the
-- password is an argon2id PHC string. Repeated failed sign-ins lock the member out
-- until `locked_until`. A session is valid while it carries the member's current
-- `session_epoch`; signing out raises it, which ends every session of the member.
CREATE TABLE members (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'developer', 'billing')),
    password_hash TEXT NOT NULL,
    failed_sign_ins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    last_sign_in_at TIMESTAMP,
    session_epoch INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX members_by_tenant ON members (tenant_id, id);

-- One-time links that make a member: an owner's invitation, or the operator's first
-- password. Only the SHA-256 of the token is stored; accepting sets `accepted_at`.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'developer', 'billing')),
    token_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP
);
CREATE INDEX invitations_by_tenant ON invitations (tenant_id, id);
