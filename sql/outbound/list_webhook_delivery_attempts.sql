-- The delivery log of one webhook endpoint: a page of its attempts, newest first (UUIDv7 ids),
-- before :before_id (the max UUID for the first page), each with its delivery's event type and
-- state. One row with NULL attempt columns when the endpoint exists but has no attempts on this
-- page; no row at all when the org has no such endpoint (404), so one round trip tells both.
-- Indexes: webhook_endpoints_pkey, webhook_delivery_attempts_endpoint_idx
-- (org_id, endpoint_id, id), webhook_deliveries_pkey (org_id, id) for the join.
-- name: list_webhook_delivery_attempts(org_id, endpoint_id, before_id, limit)
SELECT
    e.id AS endpoint_id, log.id, log.delivery_id, log.event_type, log.state, log.attempt,
    log.attempted_at, log.status_code, log.latency_ms, log.error
FROM webhook_endpoints AS e
LEFT JOIN LATERAL (
    SELECT
        a.id, a.delivery_id, d.event_type, d.state, a.attempt, a.attempted_at, a.status_code,
        a.latency_ms, a.error
    FROM webhook_delivery_attempts AS a
    JOIN webhook_deliveries AS d ON d.org_id = :org_id AND d.id = a.delivery_id
    WHERE a.org_id = :org_id AND a.endpoint_id = e.id AND a.id < :before_id
    ORDER BY a.id DESC
    LIMIT :limit
) AS log ON true
WHERE e.org_id = :org_id AND e.id = :endpoint_id
ORDER BY log.id DESC;
