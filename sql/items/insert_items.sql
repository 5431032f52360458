-- Create many items in one statement (POST items:batch): the rows travel as one JSON array, so
-- a batch is one round trip and all-or-nothing. Index: items_pkey (org_id, id).
-- name: insert_items(org_id, rows, created_by_type, created_by)
INSERT INTO items (
    org_id, id, name, description, price, currency, tags, status, metadata, created_by_type,
    created_by
)
SELECT
    :org_id, r.id, r.name, r.description, r.price, r.currency,
    ARRAY(SELECT jsonb_array_elements_text(r.tags)), r.status, r.metadata, :created_by_type,
    :created_by
FROM
    jsonb_to_recordset(:rows::jsonb) AS r (
        id uuid, name text, description text, price bigint, currency text, tags jsonb, status text,
        metadata jsonb
    )
RETURNING
    id, name, description, price, currency, tags, status, metadata, version, created_by_type,
    created_by, created_at, updated_at;
