-- What authenticating a key needs: its org, role, expiry and secret digest, if the key is not
-- revoked and its org is live. Index: api_keys_prefix_key, orgs_pkey.
-- cross-tenant: the key itself says which org it belongs to.
-- name: get_api_key_by_prefix(prefix)^
SELECT k.org_id, k.id, k.secret_hash, k.role, k.expires_at
FROM api_keys AS k
JOIN orgs AS o ON o.id = k.org_id
WHERE k.prefix = :prefix AND k.revoked_at IS NULL AND o.deleted_at IS NULL;
