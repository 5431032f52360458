-- Refresh-token rotation in one atomic statement: spend the presented token (only if unused,
-- its session live and unexpired, its user active), slide the session's expiry, and store the
-- replacement token. Two concurrent calls with the same token: the second waits on the row
-- lock, re-checks used_at IS NULL, and gets no row. Indexes: refresh_tokens_pkey,
-- auth_sessions_pkey, users_pkey.
-- name: rotate_refresh_token(old_hash, new_hash, expires_at, user_agent, ip)^
WITH spent AS (
    UPDATE refresh_tokens AS t
    SET used_at = now()
    FROM auth_sessions AS s
    INNER JOIN users AS u ON u.id = s.user_id
    WHERE t.token_hash = :old_hash
        AND t.used_at IS NULL
        AND s.id = t.session_id
        AND s.revoked_at IS NULL
        AND s.expires_at > now()
        AND u.deleted_at IS NULL
        AND u.is_active
    RETURNING t.session_id, s.user_id
),

touched AS (
    UPDATE auth_sessions AS s
    SET
        last_used_at = now(),
        expires_at = :expires_at,
        user_agent = coalesce(:user_agent, s.user_agent),
        ip = coalesce(:ip::inet, s.ip)
    FROM spent
    WHERE s.id = spent.session_id
    RETURNING s.id, s.user_id
),

issued AS (
    INSERT INTO refresh_tokens (token_hash, session_id)
    SELECT :new_hash, touched.id FROM touched
    RETURNING session_id
)

SELECT touched.id AS session_id, touched.user_id
FROM touched
INNER JOIN issued ON issued.session_id = touched.id;
