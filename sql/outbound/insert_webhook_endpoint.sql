-- Add a webhook endpoint to an organization unless it already has :max_endpoints of them (no
-- row comes back then). Run it after lock_webhook_endpoint_quota in the same transaction:
-- under READ COMMITTED a statement sees only what was committed when it started, so this
-- count alone would let two concurrent creates both see max - 1 and both insert. The org lock
-- queues them, and this statement starts (and counts) only once the other one has committed.
-- The count reads the org's slice of webhook_endpoints_pkey (org_id, id): at most
-- MAX_WEBHOOK_ENDPOINTS_PER_ORG entries. Index: webhook_endpoints_pkey.
-- name: insert_webhook_endpoint(org_id, id, url, description, event_types, secret, enabled, disabled_reason, created_by, max_endpoints)^
INSERT INTO webhook_endpoints (
    org_id, id, url, description, event_types, secret, enabled, disabled_reason, created_by
)
SELECT
    :org_id::uuid, :id::uuid, :url::text, :description::text, :event_types::text [], :secret::text,
    :enabled::boolean, :disabled_reason::text, :created_by::uuid
WHERE (SELECT count(*) FROM webhook_endpoints WHERE org_id = :org_id) < :max_endpoints
RETURNING
    id, url, description, event_types, enabled, disabled_reason, failing_since,
    consecutive_failures, created_by, created_at, updated_at,
    CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END
        AS previous_secret_expires_at;
