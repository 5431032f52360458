-- Change some fields of a live item and bump its version; with :expected_version (If-Match)
-- only if the item is still at that version. A set_* flag says whether a field was sent, so a
-- field can also be set to NULL. Index: items_pkey (org_id, id).
-- name: update_item(org_id, id, expected_version, set_name, name, set_description, description, set_price, price, currency, set_tags, tags, set_status, status, set_metadata, metadata)^
UPDATE items
SET
    name = CASE WHEN :set_name THEN :name ELSE name END,
    description = CASE WHEN :set_description THEN :description ELSE description END,
    price = CASE WHEN :set_price THEN :price::bigint ELSE price END,
    currency = CASE WHEN :set_price THEN :currency ELSE currency END,
    tags = CASE WHEN :set_tags THEN :tags::text [] ELSE tags END,
    status = CASE WHEN :set_status THEN :status ELSE status END,
    metadata = CASE WHEN :set_metadata THEN :metadata::jsonb ELSE metadata END,
    version = version + 1,
    updated_at = now()
WHERE org_id = :org_id AND id = :id AND deleted_at IS NULL
    AND (:expected_version::integer IS NULL OR version = :expected_version)
RETURNING
    id, name, description, price, currency, tags, status, metadata, version, created_by_type,
    created_by, created_at, updated_at;
