-- A delivery to the endpoint failed: count it, and disable the endpoint when it has failed at
-- least :max_failures times in a row over more than :max_failing_seconds. `disabled_now` is true
-- only for the failure that disabled it (so the org is told once). The row lock serializes
-- concurrent deliveries to one endpoint here. Index: webhook_endpoints_pkey.
-- name: record_endpoint_failure(org_id, endpoint_id, max_failures, max_failing_seconds, reason)^
WITH before AS (
    SELECT org_id, id, enabled
    FROM webhook_endpoints
    WHERE org_id = :org_id AND id = :endpoint_id
    FOR UPDATE
)

UPDATE webhook_endpoints AS e
SET
    consecutive_failures = e.consecutive_failures + 1,
    failing_since = coalesce(e.failing_since, now()),
    enabled = e.enabled AND NOT (
        e.consecutive_failures + 1 >= :max_failures
        AND coalesce(e.failing_since, now()) < now() - make_interval(secs => :max_failing_seconds)
    ),
    disabled_reason = CASE
        WHEN e.enabled
            AND e.consecutive_failures + 1 >= :max_failures
            AND coalesce(e.failing_since, now()) < now() - make_interval(secs => :max_failing_seconds)
            THEN left(:reason::text, 500)
        ELSE e.disabled_reason
    END,
    updated_at = now()
FROM before
WHERE e.org_id = before.org_id AND e.id = before.id
RETURNING e.url, before.enabled AND NOT e.enabled AS disabled_now;
