-- Create one item. Index: items_pkey (org_id, id).
-- name: insert_item(org_id, id, name, description, price, currency, tags, status, metadata, created_by_type, created_by)^
INSERT INTO items (
    org_id, id, name, description, price, currency, tags, status, metadata, created_by_type,
    created_by
)
VALUES (
    :org_id, :id, :name, :description, :price, :currency, :tags, :status, :metadata,
    :created_by_type, :created_by
)
RETURNING
    id, name, description, price, currency, tags, status, metadata, version, created_by_type,
    created_by, created_at, updated_at;
