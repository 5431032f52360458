-- Spend a sign-in challenge once its code was accepted: of two concurrent successes only one
-- gets the row. Index: mfa_challenges_pkey.
-- name: spend_mfa_challenge(token_hash)^
UPDATE mfa_challenges
SET used_at = now()
WHERE token_hash = :token_hash
    AND used_at IS NULL
RETURNING user_id;
