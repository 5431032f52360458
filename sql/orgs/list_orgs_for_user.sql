-- A page of the live organizations a user belongs to, with their role, in org-id order after
-- :after_org_id (the nil UUID for the first page). Index: org_members_user_idx, orgs_pkey.
-- cross-tenant: the caller's own memberships across orgs, selected by :user_id.
-- name: list_orgs_for_user(user_id, after_org_id, limit)
SELECT o.id, o.name, o.slug, o.created_at, o.updated_at, m.role
FROM org_members AS m
JOIN orgs AS o ON o.id = m.org_id
WHERE m.user_id = :user_id AND m.org_id > :after_org_id AND o.deleted_at IS NULL
ORDER BY m.org_id
LIMIT :limit;
