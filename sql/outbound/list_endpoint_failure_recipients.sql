-- Who hears that an endpoint was disabled: the org's owners and admins with a live account,
-- and the org's name. Index: org_members_pkey (org_id leads); users_pkey; orgs_pkey.
-- name: list_endpoint_failure_recipients(org_id, limit)
SELECT u.id AS user_id, u.email, o.name AS org_name
FROM org_members AS m
JOIN users AS u ON u.id = m.user_id
JOIN orgs AS o ON o.id = m.org_id
WHERE m.org_id = :org_id AND m.role IN ('owner', 'admin') AND u.deleted_at IS NULL
ORDER BY m.user_id
LIMIT :limit;
