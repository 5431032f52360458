-- Drop a user's open sign-in challenges (their password changed: a challenge proves the old
-- one). Index: mfa_challenges_user_idx.
-- name: delete_mfa_challenges(user_id)!
DELETE FROM mfa_challenges
WHERE user_id = :user_id;
