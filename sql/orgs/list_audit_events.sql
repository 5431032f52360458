-- A page of an organization's audit log, newest first, with ids in [:lower_id, :upper_id):
-- UUIDv7 ids carry their time, so the time range and the cursor are both id bounds.
-- Index: audit_events_pkey (org_id, id).
-- name: list_audit_events(org_id, lower_id, upper_id, limit)
SELECT
    id, occurred_at, actor_type, actor_id, action, target_type, target_id, before, after,
    request_id, host(ip) AS ip
FROM audit_events
WHERE org_id = :org_id AND id >= :lower_id AND id < :upper_id
ORDER BY id DESC
LIMIT :limit;
