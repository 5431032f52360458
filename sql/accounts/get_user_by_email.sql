-- A live, active account by email (case-insensitive), for password reset.
-- Index: users_email_lower_key.
-- name: get_user_by_email(email)^
SELECT id, email, username
FROM users
WHERE lower(email) = lower(:email) AND deleted_at IS NULL AND is_active;
