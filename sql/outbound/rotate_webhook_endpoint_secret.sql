-- Replace a webhook endpoint's signing secret; deliveries from now on are signed with the new
-- one. Returns the endpoint (the caller adds the new secret to the response once).
-- Index: webhook_endpoints_pkey.
-- name: rotate_webhook_endpoint_secret(org_id, id, secret)^
UPDATE webhook_endpoints
SET secret = :secret, updated_at = now()
WHERE org_id = :org_id AND id = :id
RETURNING
    id, url, description, event_types, enabled, disabled_reason, failing_since,
    consecutive_failures, created_by, created_at, updated_at;
