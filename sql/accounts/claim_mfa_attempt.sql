-- Count one attempt at a sign-in challenge before the code is checked, atomically: only an
-- unused, unexpired challenge with attempts left matches, so concurrent guesses cannot exceed
-- the cap. Returns what checking the code needs, if two-factor is still on for a live account.
-- Indexes: mfa_challenges_pkey, users_pkey, user_mfa_pkey.
-- name: claim_mfa_attempt(token_hash)^
WITH attempt AS (
    UPDATE mfa_challenges
    SET attempts = attempts + 1
    WHERE token_hash = :token_hash
        AND used_at IS NULL
        AND expires_at > now()
        AND attempts < max_attempts
    RETURNING user_id, login_name, attempts, max_attempts
)

SELECT
    a.user_id,
    a.login_name,
    a.attempts,
    a.max_attempts,
    m.secret_ciphertext
FROM attempt AS a
INNER JOIN users AS u ON u.id = a.user_id
INNER JOIN user_mfa AS m ON m.user_id = a.user_id
WHERE u.deleted_at IS NULL
    AND u.is_active
    AND m.confirmed_at IS NOT NULL;
