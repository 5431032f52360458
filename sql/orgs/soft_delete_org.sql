-- Soft-delete an organization: it disappears from every lookup (they all check deleted_at)
-- and frees its slug. Index: orgs_pkey.
-- name: soft_delete_org(org_id)$
UPDATE orgs
SET deleted_at = now(), updated_at = now()
WHERE id = :org_id AND deleted_at IS NULL
RETURNING id;
