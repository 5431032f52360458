-- Revoke an API key. Index: api_keys_pkey.
-- name: revoke_api_key(org_id, id)^
UPDATE api_keys
SET revoked_at = now()
WHERE org_id = :org_id AND id = :id AND revoked_at IS NULL
RETURNING prefix, name, role;
