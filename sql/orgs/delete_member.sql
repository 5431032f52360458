-- Remove a member from an organization; returns the role they had (none if not a member).
-- Index: org_members_pkey (or org_members_user_idx: both hold the unique (org, user) pair).
-- name: delete_member(org_id, user_id)$
DELETE FROM org_members
WHERE org_id = :org_id AND user_id = :user_id
RETURNING role;
