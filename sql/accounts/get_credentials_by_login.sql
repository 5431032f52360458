-- Password hash of a live account by email or username (case-insensitive), for login, and
-- whether two-factor is on (then the password only yields a challenge).
-- Indexes: users_email_lower_key and users_username_lower_key (BitmapOr of both), user_mfa_pkey.
-- name: get_credentials_by_login(login)^
SELECT
    id,
    password_hash,
    is_active,
    exists(
        SELECT 1 FROM user_mfa AS m
        WHERE m.user_id = users.id AND m.confirmed_at IS NOT NULL
    ) AS mfa_enabled
FROM users
WHERE (lower(email) = lower(:login) OR lower(username) = lower(:login))
    AND deleted_at IS NULL
-- No ORDER BY needed: lower(email) and lower(username) are unique among live accounts, and a
-- username never contains the '@' every email has, so at most one row matches.
LIMIT 1; -- noqa: AM09
