-- Read a one-time email token without spending it: only an unused, unexpired token of the
-- right purpose matches. Lets slow work (password hashing) happen before the transaction
-- that spends it with consume_email_token. Index: email_tokens_pkey.
-- name: get_valid_email_token(token_hash, purpose)^
SELECT user_id, email
FROM email_tokens
WHERE token_hash = :token_hash
    AND purpose = :purpose
    AND used_at IS NULL
    AND expires_at > now();
