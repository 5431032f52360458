-- Change some settings of a webhook endpoint; a set_* flag says whether a field was sent.
-- :enabled NULL leaves the state alone; true re-enables and clears the failure state (the
-- deliveries start counting again); false disables with :disabled_reason. Returns the endpoint
-- and the values it replaced (old_*, for the audit log), read under the row lock the subquery
-- takes, so a concurrent change cannot slip in between. Index: webhook_endpoints_pkey.
-- name: update_webhook_endpoint(org_id, id, set_url, url, set_event_types, event_types, set_description, description, enabled, disabled_reason)^
UPDATE webhook_endpoints AS e
SET
    url = CASE WHEN :set_url THEN :url::text ELSE e.url END,
    event_types = CASE WHEN :set_event_types THEN :event_types::text [] ELSE e.event_types END,
    description = CASE WHEN :set_description THEN :description::text ELSE e.description END,
    enabled = coalesce(:enabled::boolean, e.enabled),
    disabled_reason = CASE
        WHEN :enabled::boolean IS NULL THEN e.disabled_reason
        WHEN :enabled::boolean THEN NULL
        ELSE :disabled_reason::text
    END,
    failing_since = CASE WHEN :enabled::boolean THEN NULL ELSE e.failing_since END,
    consecutive_failures = CASE WHEN :enabled::boolean THEN 0 ELSE e.consecutive_failures END,
    updated_at = now()
FROM (
    SELECT id, url, event_types, description, enabled
    FROM webhook_endpoints
    WHERE org_id = :org_id AND id = :id
    FOR UPDATE
) AS old
WHERE e.org_id = :org_id AND e.id = old.id
RETURNING
    e.id, e.url, e.description, e.event_types, e.enabled, e.disabled_reason, e.failing_since,
    e.consecutive_failures, e.created_by, e.created_at, e.updated_at,
    CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret_expires_at END
        AS previous_secret_expires_at,
    old.url AS old_url, old.event_types AS old_event_types, old.description AS old_description,
    old.enabled AS old_enabled;
