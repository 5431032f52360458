-- Events and background work: the job queue, inbound webhook events, the domain-event outbox,
-- outbound webhook endpoints with their deliveries and attempts, and platform administrators.
-- PostgreSQL holds every event and job (DESIGN.md section 4); Redis never holds the only copy.
-- depends: 0003_resources

-- Platform operators (not org roles): may read and retry jobs and inbound events (/admin/...).
-- A table of grants rather than a flag on users: who granted it and when stays on record.
CREATE TABLE platform_admins (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    granted_at timestamptz NOT NULL DEFAULT now(),
    granted_by text NOT NULL CHECK (char_length(granted_by) BETWEEN 1 AND 200)
);

-- The job queue. Not tenant-owned: a job may serve any org; its payload names what it works on.
-- A job is 'queued' (due at run_at), 'running' under a lease (lease_token fences a late
-- finisher after the lease expired and someone else took the job), 'succeeded', or 'dead'
-- (attempts exhausted or a permanent failure; kept with its last error until an admin retries).
CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
    payload jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'succeeded', 'dead')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
    run_at timestamptz NOT NULL DEFAULT now(),
    lease_token uuid,
    leased_by text CHECK (char_length(leased_by) <= 200),
    lease_expires_at timestamptz,
    last_error text CHECK (char_length(last_error) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CHECK ((state = 'running') = (lease_token IS NOT NULL)),
    CHECK ((state = 'running') = (lease_expires_at IS NOT NULL))
);

-- The claim query: queued jobs in the order they fall due.
CREATE INDEX jobs_due_idx ON jobs (run_at, id) WHERE state = 'queued';
-- The reclaim query: running jobs whose lease ran out.
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';
-- Admin lists by state, newest first (UUIDv7 ids sort by creation), and counts per state.
CREATE INDEX jobs_state_idx ON jobs (state, id);
-- Admin lists of one kind in one state, newest first.
CREATE INDEX jobs_state_kind_idx ON jobs (state, kind, id);
-- The retention purge: succeeded jobs by when they finished.
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE state = 'succeeded';

-- Inbound webhook events, stored raw before anything else happens. The provider's event id
-- makes delivery idempotent: a duplicate is acknowledged and not stored or processed again.
CREATE TABLE inbound_events (
    source text NOT NULL CHECK (source ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    event_id text NOT NULL CHECK (char_length(event_id) BETWEEN 1 AND 255),
    id uuid NOT NULL UNIQUE,
    event_type text NOT NULL CHECK (char_length(event_type) BETWEEN 1 AND 255),
    -- The exact bytes that were signed: evidence, and re-processable as received.
    body bytea NOT NULL,
    state text NOT NULL DEFAULT 'received'
        CHECK (state IN ('received', 'processed', 'ignored', 'failed')),
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    last_error text CHECK (char_length(last_error) <= 2000),
    PRIMARY KEY (source, event_id)
);

-- Admin lists by state, newest first; and of one source.
CREATE INDEX inbound_events_state_idx ON inbound_events (state, id);
CREATE INDEX inbound_events_state_source_idx ON inbound_events (state, source, id);

-- The outbox of domain events (item.created, member.added, ...): written in the same
-- transaction as the change, then fanned out to the org's webhook endpoints by a job.
CREATE TABLE domain_events (
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    event_type text NOT NULL CHECK (event_type ~ '^[a-z_]+\.[a-z_]+$'),
    payload jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);

-- Retention: each worker's maintenance deletes events older than EVENT_RETENTION_DAYS.
CREATE INDEX domain_events_occurred_idx ON domain_events (occurred_at);

-- Where an org wants its events delivered. The secret signs every delivery; it is shown once.
CREATE TABLE webhook_endpoints (
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    url text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
    -- Event types to deliver; '*' means all of them.
    event_types text [] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 50),
    secret text NOT NULL CHECK (char_length(secret) BETWEEN 32 AND 200),
    enabled boolean NOT NULL DEFAULT true,
    disabled_reason text CHECK (char_length(disabled_reason) <= 500),
    -- Set by the first failed delivery after a success; an endpoint failing for longer than
    -- the configured window is disabled automatically and the org's admins are told.
    failing_since timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);

-- One event to one endpoint. Unique per (endpoint, event): a fan-out that runs twice (its job
-- was retried after a lost lease) creates no second delivery.
CREATE TABLE webhook_deliveries (
    org_id uuid NOT NULL,
    id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_status_code integer CHECK (last_status_code BETWEEN 100 AND 599),
    last_error text CHECK (char_length(last_error) <= 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, endpoint_id, event_id),
    FOREIGN KEY (org_id, endpoint_id) REFERENCES webhook_endpoints (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, event_id) REFERENCES domain_events (org_id, id) ON DELETE CASCADE
);

-- The deliveries of one endpoint, newest first.
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (org_id, endpoint_id, id);
-- The foreign key to domain_events: deleting old events finds their deliveries by index.
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (org_id, event_id);

-- Every attempt of every delivery: the endpoint's delivery log.
CREATE TABLE webhook_delivery_attempts (
    org_id uuid NOT NULL,
    id uuid NOT NULL,
    delivery_id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    attempt integer NOT NULL CHECK (attempt >= 1),
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code integer CHECK (status_code BETWEEN 100 AND 599),
    latency_ms double precision NOT NULL CHECK (latency_ms >= 0),
    error text CHECK (char_length(error) <= 500),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, delivery_id, attempt),
    FOREIGN KEY (org_id, delivery_id) REFERENCES webhook_deliveries (org_id, id) ON DELETE CASCADE
);

-- The log of one endpoint, newest first.
CREATE INDEX webhook_delivery_attempts_endpoint_idx
ON webhook_delivery_attempts (org_id, endpoint_id, id);
