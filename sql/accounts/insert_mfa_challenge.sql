-- Open a sign-in challenge after a correct password, clearing the user's finished ones (used,
-- expired or out of attempts) in the same statement. Indexes: mfa_challenges_pkey,
-- mfa_challenges_user_idx.
-- name: insert_mfa_challenge(token_hash, user_id, login_name, max_attempts, user_agent, ip, expires_at)!
WITH purged AS (
    DELETE FROM mfa_challenges
    WHERE user_id = :user_id
        AND (used_at IS NOT NULL OR expires_at <= now() OR attempts >= max_attempts)
)
INSERT INTO mfa_challenges (token_hash, user_id, login_name, max_attempts, user_agent, ip, expires_at)
VALUES (:token_hash, :user_id, :login_name, :max_attempts, :user_agent, :ip::inet, :expires_at);
