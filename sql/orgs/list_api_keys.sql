-- A page of an organization's unrevoked API keys, newest first, before :before_id (the max
-- UUID for the first page). Never the secret digest. Index: api_keys_pkey (org_id, id).
-- name: list_api_keys(org_id, before_id, limit)
SELECT id, name, prefix, role, created_by, created_at, expires_at, last_used_at
FROM api_keys
WHERE org_id = :org_id AND id < :before_id AND revoked_at IS NULL
ORDER BY id DESC
LIMIT :limit;
