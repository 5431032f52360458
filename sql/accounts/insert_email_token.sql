-- Store a one-time email token (only its SHA-256 digest). Index: email_tokens_pkey.
-- name: insert_email_token(token_hash, user_id, purpose, email, expires_at)!
INSERT INTO email_tokens (token_hash, user_id, purpose, email, expires_at)
VALUES (:token_hash, :user_id, :purpose, :email, :expires_at);
