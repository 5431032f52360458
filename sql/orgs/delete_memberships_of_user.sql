-- Remove a user from every organization (their account is being deleted); returns where they
-- were and with which role, for the audit log. Index: org_members_user_idx.
-- cross-tenant: every membership of one user, selected by :user_id.
-- name: delete_memberships_of_user(user_id)
DELETE FROM org_members
WHERE user_id = :user_id
RETURNING org_id, role;
