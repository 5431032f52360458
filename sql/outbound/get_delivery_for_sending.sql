-- A pending delivery with what sending it needs: its endpoint (URL, secret, the secret before the
-- last rotation while its grace period lasts, whether enabled) and its event. None once the delivery succeeded or was given up.
-- Index: webhook_deliveries_pkey; webhook_endpoints_pkey; domain_events_pkey.
-- name: get_delivery_for_sending(org_id, delivery_id)^
SELECT
    d.id, d.endpoint_id, d.event_id, d.event_type, d.attempts, e.url, e.secret, e.enabled,
    CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END AS previous_secret,
    ev.payload, ev.occurred_at
FROM webhook_deliveries AS d
JOIN webhook_endpoints AS e ON e.org_id = d.org_id AND e.id = d.endpoint_id
JOIN domain_events AS ev ON ev.org_id = d.org_id AND ev.id = d.event_id
WHERE d.org_id = :org_id AND d.id = :delivery_id AND d.state = 'pending';
