-- Spend a one-time email token atomically: only an unused, unexpired token of the right
-- purpose matches, and only once. Index: email_tokens_pkey.
-- name: consume_email_token(token_hash, purpose)^
UPDATE email_tokens
SET used_at = now()
WHERE token_hash = :token_hash
    AND purpose = :purpose
    AND used_at IS NULL
    AND expires_at > now()
RETURNING user_id, email;
