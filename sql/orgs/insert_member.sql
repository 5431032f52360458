-- Add a user to an organization with a role; nothing happens if they already belong to it.
-- Index: org_members_pkey.
-- name: insert_member(org_id, user_id, role)$
INSERT INTO org_members (org_id, user_id, role)
VALUES (:org_id, :user_id, :role)
ON CONFLICT (org_id, user_id) DO NOTHING
RETURNING user_id;
