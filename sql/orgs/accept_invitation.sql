-- Spend an invitation atomically: only an open, unexpired invitation of a live org matches,
-- and only once. Index: org_invitations_token_key, orgs_pkey.
-- cross-tenant: the token identifies the invitation (and so the org) before anything else can.
-- name: accept_invitation(token_hash, user_id)^
UPDATE org_invitations AS i
SET accepted_at = now(), accepted_by = :user_id, updated_at = now()
FROM orgs AS o
WHERE i.token_hash = :token_hash
    AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
    AND o.id = i.org_id AND o.deleted_at IS NULL
RETURNING i.org_id, i.id, i.email, i.role;
