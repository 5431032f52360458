-- One live item of an org. Index: items_pkey (org_id, id).
-- name: get_item(org_id, id)^
SELECT
    id, name, description, price, currency, tags, status, metadata, version, created_by_type,
    created_by, created_at, updated_at
FROM items
WHERE org_id = :org_id AND id = :id AND deleted_at IS NULL;
