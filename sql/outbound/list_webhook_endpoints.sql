-- A page of an organization's webhook endpoints, newest first (UUIDv7 ids), before :before_id
-- (the max UUID for the first page). Never the secret. Index: webhook_endpoints_pkey (org_id, id).
-- name: list_webhook_endpoints(org_id, before_id, limit)
SELECT
    id, url, description, event_types, enabled, disabled_reason, failing_since,
    consecutive_failures, created_by, created_at, updated_at,
    CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END
        AS previous_secret_expires_at
FROM webhook_endpoints
WHERE org_id = :org_id AND id < :before_id
ORDER BY id DESC
LIMIT :limit;
