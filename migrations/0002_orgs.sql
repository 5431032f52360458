-- Organizations (the tenants), their members and roles, invitations, API keys for machine
-- clients, and the append-only audit log. Every tenant-owned table leads its primary key with
-- org_id (DESIGN.md section 4); orgs are soft-deleted, so nothing here cascades in practice.
-- depends: 0001_accounts

CREATE TABLE orgs (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- Lower-case letters, digits and inner hyphens, 3-40 characters: safe in URLs and subdomains.
    slug text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'),
    created_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);

-- A deleted org frees its slug.
CREATE UNIQUE INDEX orgs_slug_key ON orgs (slug) WHERE deleted_at IS NULL;

CREATE TABLE org_members (
    org_id uuid NOT NULL REFERENCES orgs (id),
    user_id uuid NOT NULL REFERENCES users (id),
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);

-- "The orgs I belong to", keyset-paginated by org id.
CREATE INDEX org_members_user_idx ON org_members (user_id, org_id);
-- The owners of an org, counted under the org lock before any owner is demoted or removed:
-- a few rows even in an org with thousands of members.
CREATE INDEX org_members_owners_idx ON org_members (org_id) WHERE role = 'owner';

CREATE TABLE org_invitations (
    org_id uuid NOT NULL REFERENCES orgs (id),
    id uuid NOT NULL,
    email text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash bytea NOT NULL CHECK (octet_length(token_hash) = 32),
    invited_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid REFERENCES users (id),
    revoked_at timestamptz,
    PRIMARY KEY (org_id, id),
    CHECK ((accepted_at IS NULL) = (accepted_by IS NULL)),
    CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);

-- The accept endpoint looks invitations up by the digest of their token.
CREATE UNIQUE INDEX org_invitations_token_key ON org_invitations (token_hash);
-- At most one open invitation per address and org: re-inviting refreshes it (ON CONFLICT).
CREATE UNIQUE INDEX org_invitations_open_email_key ON org_invitations (org_id, lower(email))
WHERE accepted_at IS NULL AND revoked_at IS NULL;

CREATE TABLE api_keys (
    org_id uuid NOT NULL REFERENCES orgs (id),
    id uuid NOT NULL,
    -- The public part of the key (sk_<prefix>_<secret>): how a key is found and recognised.
    prefix text NOT NULL CHECK (prefix ~ '^[a-z2-7]{12}$'),
    secret_hash bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- Keys never own an org: they cannot delete it or transfer it.
    role text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    created_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz,
    PRIMARY KEY (org_id, id)
);

CREATE UNIQUE INDEX api_keys_prefix_key ON api_keys (prefix);

CREATE TABLE audit_events (
    org_id uuid NOT NULL REFERENCES orgs (id),
    -- UUIDv7: the id orders events by time, so time ranges are id ranges on the primary key.
    id uuid NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_type text NOT NULL CHECK (actor_type IN ('user', 'api_key')),
    actor_id uuid NOT NULL,
    action text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    target_type text NOT NULL CHECK (char_length(target_type) <= 32),
    target_id uuid,
    before jsonb,
    after jsonb,
    request_id text CHECK (char_length(request_id) <= 128),
    ip inet,
    PRIMARY KEY (org_id, id)
);

CREATE INDEX audit_events_org_action_idx ON audit_events (org_id, action, id);
CREATE INDEX audit_events_org_actor_idx ON audit_events (org_id, actor_id, id);

-- Append-only: the log is evidence, so no statement may change or remove a row.
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', tg_op
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
