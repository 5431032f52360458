-- A page of an org's live items by name (byte order), ascending. The scan starts after
-- the start position (the cursor, or the filter's bound on the sort key) and stops at
-- the stop bound (the filter's other bound): both are index conditions, so a deep page or a narrow
-- range costs what the first page costs. Index: items_org_name_idx (org_id, (name COLLATE "C"), id).
-- name: list_items_by_name_asc(org_id, start_key, start_id, stop_key, status, tag, currency, price_lo, price_hi, created_lo, created_hi, name_lo, name_hi, limit)
SELECT
    id, name, description, price, currency, tags, status, metadata, version, created_by_type,
    created_by, created_at, updated_at
FROM items
WHERE org_id = :org_id AND deleted_at IS NULL
    AND (name COLLATE "C", id) > (:start_key::text, :start_id::uuid)
    AND name COLLATE "C" < :stop_key::text
    -- The optional filters, wrapped in one coalesce(..., false) on purpose: the planner then
    -- estimates them as one clause (selectivity 0.5) instead of multiplying a guess per filter,
    -- which in a generic plan made the ordered index scan look worse than sort-after-fetch.
    AND coalesce(
        (:status::text IS NULL OR status = :status)
        AND (:tag::text IS NULL OR tags @> ARRAY[:tag::text])
        AND (:currency::text IS NULL OR currency = :currency)
        AND coalesce(price, -1) >= :price_lo AND coalesce(price, -1) < :price_hi
        AND created_at >= :created_lo AND created_at < :created_hi
        AND name COLLATE "C" >= :name_lo AND name COLLATE "C" < :name_hi,
        false
    )
ORDER BY name COLLATE "C", id
LIMIT :limit;
