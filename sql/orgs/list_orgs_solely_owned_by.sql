-- The live organizations whose only owner is this user (their account cannot be deleted yet).
-- Index: org_members_user_idx, then org_members_pkey for each org's owners.
-- cross-tenant: every org of one user, selected by :user_id.
-- name: list_orgs_solely_owned_by(user_id)
SELECT o.slug
FROM org_members AS m
JOIN orgs AS o ON o.id = m.org_id
WHERE m.user_id = :user_id AND m.role = 'owner' AND o.deleted_at IS NULL
    AND NOT EXISTS (
        SELECT 1 FROM org_members AS other
        WHERE other.org_id = m.org_id AND other.role = 'owner' AND other.user_id <> m.user_id
    )
ORDER BY o.slug
LIMIT 100;
