-- Store a new API key (only the digest of its secret). Index: api_keys_pkey, api_keys_prefix_key.
-- name: insert_api_key(org_id, id, prefix, secret_hash, name, role, created_by, expires_at)^
INSERT INTO api_keys (org_id, id, prefix, secret_hash, name, role, created_by, expires_at)
VALUES (:org_id, :id, :prefix, :secret_hash, :name, :role, :created_by, :expires_at)
RETURNING id, name, prefix, role, created_at, expires_at;
