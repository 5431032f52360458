-- A live account's two-factor state (no row in user_mfa: never set up) with what the two-factor
-- routes need: the email (authenticator label, throttle key) and the password hash (disable).
-- Indexes: users_pkey, user_mfa_pkey.
-- name: get_mfa_state(user_id)^
SELECT
    u.email,
    u.password_hash,
    m.secret_ciphertext,
    coalesce(m.confirmed_at IS NOT NULL, false) AS enabled
FROM users AS u
LEFT JOIN user_mfa AS m ON m.user_id = u.id
WHERE u.id = :user_id
    AND u.deleted_at IS NULL;
