-- Change a member's role; returns the role before the change (none if not a member).
-- Index: org_members_pkey (or org_members_user_idx: both hold the unique (org, user) pair).
-- name: update_member_role(org_id, user_id, role)$
UPDATE org_members AS m
SET role = :role, updated_at = now()
FROM org_members AS old
WHERE m.org_id = :org_id AND m.user_id = :user_id
    AND old.org_id = m.org_id AND old.user_id = m.user_id
RETURNING old.role;
