-- Revoke an open invitation; its token stops working. Index: org_invitations_pkey.
-- name: revoke_invitation(org_id, id)^
UPDATE org_invitations
SET revoked_at = now(), updated_at = now()
WHERE org_id = :org_id AND id = :id AND accepted_at IS NULL AND revoked_at IS NULL
RETURNING email, role;
