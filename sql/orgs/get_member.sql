-- One member of an organization with profile fields. Index: org_members_pkey (or org_members_user_idx: both hold the unique (org, user) pair), users_pkey.
-- name: get_member(org_id, user_id)^
SELECT m.user_id, u.username, u.display_name, m.role, m.created_at AS joined_at
FROM org_members AS m
JOIN users AS u ON u.id = m.user_id
WHERE m.org_id = :org_id AND m.user_id = :user_id;
