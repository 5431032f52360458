-- One live organization. Index: orgs_pkey.
-- name: get_org(org_id)^
SELECT id, name, slug, created_at, updated_at
FROM orgs
WHERE id = :org_id AND deleted_at IS NULL;
