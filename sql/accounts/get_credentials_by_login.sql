-- Password hash of a live account by email or username (case-insensitive), for login.
-- Indexes: users_email_lower_key and users_username_lower_key (BitmapOr of both).
-- name: get_credentials_by_login(login)^
SELECT id, password_hash, is_active
FROM users
WHERE (lower(email) = lower(:login) OR lower(username) = lower(:login))
    AND deleted_at IS NULL
LIMIT 1;
