-- Soft-delete a live item (it leaves every list and read at once); with :expected_version
-- (If-Match) only if the item is still at that version. Index: items_pkey (org_id, id).
-- name: soft_delete_item(org_id, id, expected_version)$
UPDATE items
SET deleted_at = now(), version = version + 1, updated_at = now()
WHERE org_id = :org_id AND id = :id AND deleted_at IS NULL
    AND (:expected_version::integer IS NULL OR version = :expected_version)
RETURNING version;
