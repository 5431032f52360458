-- Lock the live organizations a user owns (as lock_org does), before their account goes.
-- Index: org_members_user_idx, orgs_pkey.
-- cross-tenant: every org of one user, selected by :user_id.
-- name: lock_orgs_owned_by(user_id)
SELECT o.id
FROM org_members AS m
JOIN orgs AS o ON o.id = m.org_id
WHERE m.user_id = :user_id AND m.role = 'owner' AND o.deleted_at IS NULL
ORDER BY o.id
FOR NO KEY UPDATE OF o;
