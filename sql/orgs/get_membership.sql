-- The caller's role in a live organization (none if not a member or the org is deleted).
-- Runs for every org-scoped request made with a user token. Index: org_members_pkey (or org_members_user_idx: both hold the unique (org, user) pair), orgs_pkey.
-- name: get_membership(org_id, user_id)^
SELECT m.user_id, m.role
FROM org_members AS m
JOIN orgs AS o ON o.id = m.org_id
WHERE m.org_id = :org_id AND m.user_id = :user_id AND o.deleted_at IS NULL;
