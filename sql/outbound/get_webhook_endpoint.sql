-- One webhook endpoint of an organization, without its secret. Index: webhook_endpoints_pkey.
-- name: get_webhook_endpoint(org_id, id)^
SELECT
    id, url, description, event_types, enabled, disabled_reason, failing_since,
    consecutive_failures, created_by, created_at, updated_at,
    CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END
        AS previous_secret_expires_at
FROM webhook_endpoints
WHERE org_id = :org_id AND id = :id;
