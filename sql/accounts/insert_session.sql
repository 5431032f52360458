-- Start a login session (a refresh-token family) with its first refresh token, in one
-- statement. Indexes: auth_sessions_pkey, refresh_tokens_pkey.
-- name: insert_session(id, user_id, user_agent, ip, expires_at, token_hash)!
WITH new_session AS (
    INSERT INTO auth_sessions (id, user_id, user_agent, ip, expires_at)
    VALUES (:id, :user_id, :user_agent, :ip::inet, :expires_at)
    RETURNING id
)

INSERT INTO refresh_tokens (token_hash, session_id)
SELECT :token_hash, id FROM new_session;
