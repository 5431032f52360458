-- Password hash and identity of a live account, to confirm its password. Index: users_pkey.
-- name: get_credentials_by_id(id)^
SELECT id, email, username, password_hash
FROM users
WHERE id = :id AND deleted_at IS NULL AND is_active;
