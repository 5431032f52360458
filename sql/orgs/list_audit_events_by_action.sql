-- As list_audit_events, for one action only. Index: audit_events_org_action_idx.
-- name: list_audit_events_by_action(org_id, action, lower_id, upper_id, limit)
SELECT
    id, occurred_at, actor_type, actor_id, action, target_type, target_id, before, after,
    request_id, host(ip) AS ip
FROM audit_events
WHERE org_id = :org_id AND action = :action AND id >= :lower_id AND id < :upper_id
ORDER BY id DESC
LIMIT :limit;
