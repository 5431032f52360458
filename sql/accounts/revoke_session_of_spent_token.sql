-- Reuse detection: a refresh token that was already spent is presented again, so the whole
-- family (session) is revoked. Returns the session id if it was live. Indexes:
-- refresh_tokens_pkey, auth_sessions_pkey.
-- name: revoke_session_of_spent_token(token_hash)$
UPDATE auth_sessions
SET revoked_at = now(), revoked_reason = 'reuse_detected'
WHERE
    id = (
        SELECT session_id FROM refresh_tokens
        WHERE token_hash = :token_hash AND used_at IS NOT NULL
    )
    AND revoked_at IS NULL
RETURNING id;
