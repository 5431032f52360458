-- The caller's public profile, and whether they belong to the (live) org: the first of the
-- activity feed's three concurrent reads. Index: users_pkey, org_members_pkey, orgs_pkey.
-- name: get_member_profile(org_id, user_id)^
SELECT
    u.id, u.username, u.display_name, u.bio, u.avatar_url, u.created_at,
    exists(
        SELECT 1
        FROM org_members AS m
        JOIN orgs AS o ON o.id = m.org_id
        WHERE m.org_id = :org_id AND m.user_id = :user_id AND o.deleted_at IS NULL
    ) AS is_member
FROM users AS u
WHERE u.id = :user_id AND u.deleted_at IS NULL AND u.is_active;
