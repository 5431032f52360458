-- The owner's view of a live account (private profile). Index: users_pkey.
-- name: get_user(id)^
SELECT
    id, email, username, display_name, bio, avatar_url, locale,
    email_verified_at IS NOT NULL AS email_verified, created_at, updated_at
FROM users
WHERE id = :id AND deleted_at IS NULL AND is_active;
