-- Revoke every API key of an organization (it is being deleted). Index: api_keys_pkey.
-- name: revoke_org_api_keys(org_id)
UPDATE api_keys
SET revoked_at = now()
WHERE org_id = :org_id AND revoked_at IS NULL
RETURNING prefix;
