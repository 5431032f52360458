-- Remove a member from an organization; returns the role they had (none if not a member).
-- Index: org_members_pkey.
-- name: delete_member(org_id, user_id)$
DELETE FROM org_members
WHERE org_id = :org_id AND user_id = :user_id
RETURNING role;
