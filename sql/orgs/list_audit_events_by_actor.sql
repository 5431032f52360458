-- As list_audit_events, for one actor (user or API key), optionally one action too.
-- Index: audit_events_org_actor_idx.
-- name: list_audit_events_by_actor(org_id, actor_id, action, lower_id, upper_id, limit)
SELECT
    id, occurred_at, actor_type, actor_id, action, target_type, target_id, before, after,
    request_id, host(ip) AS ip
FROM audit_events
WHERE org_id = :org_id AND actor_id = :actor_id AND id >= :lower_id AND id < :upper_id
    AND (:action::text IS NULL OR action = :action)
ORDER BY id DESC
LIMIT :limit;
