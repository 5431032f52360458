-- Create an account. Uniqueness of email and username (case-insensitive, live accounts) is
-- enforced by users_email_lower_key / users_username_lower_key; a violation means "taken".
-- name: insert_user(id, email, username, password_hash, display_name, locale)^
INSERT INTO users (id, email, username, password_hash, display_name, locale)
VALUES (:id, :email, :username, :password_hash, :display_name, :locale)
RETURNING
    id, email, username, display_name, bio, avatar_url, locale,
    email_verified_at IS NOT NULL AS email_verified, created_at, updated_at;
