-- A page of an organization's open (not accepted, not revoked) invitations, newest first,
-- before :before_id (the max UUID for the first page); expired ones are flagged, not hidden.
-- Index: org_invitations_pkey (org_id, id), or org_invitations_open_email_key (open ones only)
-- for a small org, whose handful of open rows the planner may sort instead.
-- name: list_open_invitations(org_id, before_id, limit)
SELECT id, email, role, invited_by, created_at, expires_at, expires_at <= now() AS expired
FROM org_invitations
WHERE org_id = :org_id AND id < :before_id AND accepted_at IS NULL AND revoked_at IS NULL
ORDER BY id DESC
LIMIT :limit;
