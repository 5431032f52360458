-- Whether an access token's session may still act: session live and unexpired, user active.
-- Called at most once per session per cache period (SESSION_CACHE_SECONDS) per worker.
-- Indexes: auth_sessions_pkey, users_pkey.
-- name: is_session_active(id)$
SELECT EXISTS (
    SELECT 1
    FROM auth_sessions AS s
    INNER JOIN users AS u ON u.id = s.user_id
    WHERE s.id = :id
        AND s.revoked_at IS NULL
        AND s.expires_at > now()
        AND u.deleted_at IS NULL
        AND u.is_active
);
