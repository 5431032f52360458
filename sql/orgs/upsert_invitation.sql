-- Invite an address, or refresh its open invitation (new token, role, expiry and inviter):
-- at most one open invitation per address and org. Index: org_invitations_open_email_key.
-- name: upsert_invitation(org_id, id, email, role, token_hash, invited_by, expires_at)^
INSERT INTO org_invitations (org_id, id, email, role, token_hash, invited_by, expires_at)
VALUES (:org_id, :id, :email, :role, :token_hash, :invited_by, :expires_at)
ON CONFLICT (org_id, lower(email)) WHERE accepted_at IS NULL AND revoked_at IS NULL
DO UPDATE
    SET role = excluded.role,
        token_hash = excluded.token_hash,
        invited_by = excluded.invited_by,
        expires_at = excluded.expires_at,
        updated_at = now()
RETURNING id, email, role, invited_by, created_at, expires_at, expires_at <= now() AS expired;
