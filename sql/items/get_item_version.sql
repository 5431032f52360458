-- The current version of a live item: after a conditional write matched nothing, tells a stale
-- If-Match (412) from a missing item (404). Index: items_pkey (org_id, id).
-- name: get_item_version(org_id, id)$
SELECT version
FROM items
WHERE org_id = :org_id AND id = :id AND deleted_at IS NULL;
