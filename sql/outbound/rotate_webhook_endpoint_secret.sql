-- Replace a webhook endpoint's signing secret. The replaced one keeps signing deliveries, beside
-- the new one, for :grace_seconds (0: it stops at once); a rotation during a grace period drops
-- the oldest secret, so at most two ever sign. Returns the endpoint (the caller adds the new
-- secret to the response once). Index: webhook_endpoints_pkey.
-- name: rotate_webhook_endpoint_secret(org_id, id, secret, grace_seconds)^
UPDATE webhook_endpoints
SET
    previous_secret = CASE WHEN :grace_seconds::float8 > 0 THEN secret END,
    previous_secret_expires_at = CASE
        WHEN :grace_seconds::float8 > 0 THEN now() + make_interval(secs => :grace_seconds::float8)
    END,
    secret = :secret,
    updated_at = now()
WHERE org_id = :org_id AND id = :id
RETURNING
    id, url, description, event_types, enabled, disabled_reason, failing_since,
    consecutive_failures, created_by, created_at, updated_at,
    CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END
        AS previous_secret_expires_at;
