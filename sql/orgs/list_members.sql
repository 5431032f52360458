-- A page of an organization's members in user-id order, continuing after :after_user_id
-- (the nil UUID for the first page). Index: org_members_pkey (org_id, user_id).
-- name: list_members(org_id, after_user_id, limit)
SELECT m.user_id, u.username, u.display_name, m.role, m.created_at AS joined_at
FROM org_members AS m
JOIN users AS u ON u.id = m.user_id
WHERE m.org_id = :org_id AND m.user_id > :after_user_id
ORDER BY m.user_id
LIMIT :limit;
