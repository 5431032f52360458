-- Public profile fields of a live account, for any signed-in caller. Index: users_pkey.
-- name: get_public_user(id)^
SELECT id, username, display_name, bio, avatar_url, created_at
FROM users
WHERE id = :id AND deleted_at IS NULL AND is_active;
