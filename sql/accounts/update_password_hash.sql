-- Replace a live account's password hash (change, reset, or rehash with new parameters).
-- Index: users_pkey.
-- name: update_password_hash(id, password_hash)!
UPDATE users
SET password_hash = :password_hash, updated_at = now()
WHERE id = :id AND deleted_at IS NULL;
