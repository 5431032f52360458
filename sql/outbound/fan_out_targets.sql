-- The event to fan out and the org's enabled endpoints subscribed to its type (at most :limit;
-- an org has a few). Index: domain_events_pkey; webhook_endpoints_pkey (org_id leads).
-- name: fan_out_targets(org_id, event_id, limit)
SELECT e.id AS endpoint_id, ev.event_type
FROM domain_events AS ev
JOIN webhook_endpoints AS e ON e.org_id = ev.org_id
WHERE ev.org_id = :org_id AND ev.id = :event_id AND e.enabled
    AND (ev.event_type = any(e.event_types) OR '*' = any(e.event_types))
ORDER BY e.id
LIMIT :limit;
