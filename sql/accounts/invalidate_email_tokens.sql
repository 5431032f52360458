-- Retire a user's outstanding tokens of one purpose (after one of them was used).
-- Index: email_tokens_user_purpose_idx.
-- name: invalidate_email_tokens(user_id, purpose)!
UPDATE email_tokens
SET used_at = now()
WHERE user_id = :user_id AND purpose = :purpose AND used_at IS NULL;
