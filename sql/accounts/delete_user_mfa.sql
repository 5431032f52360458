-- Turn two-factor off: remove the secret (its backup codes go with it, ON DELETE CASCADE) and
-- any open sign-in challenge. Indexes: user_mfa_pkey, mfa_challenges_user_idx.
-- name: delete_user_mfa(user_id)^
WITH challenges AS (
    DELETE FROM mfa_challenges
    WHERE user_id = :user_id
)

DELETE FROM user_mfa
WHERE user_id = :user_id
RETURNING user_id;
