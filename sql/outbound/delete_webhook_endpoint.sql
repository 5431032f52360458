-- Delete a webhook endpoint for good; its deliveries and their attempts go with it (ON DELETE
-- CASCADE, found through webhook_deliveries_endpoint_idx and the attempts' unique
-- (org_id, delivery_id, attempt) index). Returns what the audit log keeps of it.
-- Index: webhook_endpoints_pkey.
-- name: delete_webhook_endpoint(org_id, id)^
DELETE FROM webhook_endpoints
WHERE org_id = :org_id AND id = :id
RETURNING url, event_types, description, enabled;
