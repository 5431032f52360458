-- Soft-delete an account: it can no longer authenticate and frees its email and username
-- (the unique indexes are partial on deleted_at IS NULL). Index: users_pkey.
-- name: soft_delete_user(id)$
UPDATE users
SET deleted_at = now(), updated_at = now()
WHERE id = :id AND deleted_at IS NULL
RETURNING id;
