-- Open a sign-in challenge after a correct password, ending the user's earlier ones in the same
-- statement: one live challenge per user, so codes cannot be guessed on many challenges at once.
-- Indexes: mfa_challenges_pkey, mfa_challenges_user_idx.
-- name: insert_mfa_challenge(token_hash, user_id, login_name, max_attempts, user_agent, ip, expires_at)!
WITH ended AS (
    DELETE FROM mfa_challenges
    WHERE user_id = :user_id
)

INSERT INTO mfa_challenges (token_hash, user_id, login_name, max_attempts, user_agent, ip, expires_at)
VALUES (:token_hash, :user_id, :login_name, :max_attempts, :user_agent, :ip::inet, :expires_at);
