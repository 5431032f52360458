-- Whether an access token's session may still act: the session is the token's user's, live and
-- unexpired, and the user is active.
-- Called at most once per session per cache period (SESSION_CACHE_SECONDS) per worker.
-- Indexes: auth_sessions_pkey or auth_sessions_user_active_idx (the planner's pick: one row either
-- way), users_pkey.
-- name: is_session_active(id, user_id)$
SELECT exists(
    SELECT 1
    FROM auth_sessions AS s
    INNER JOIN users AS u ON u.id = s.user_id
    WHERE s.id = :id
        AND s.user_id = :user_id
        AND s.revoked_at IS NULL
        AND s.expires_at > now()
        AND u.deleted_at IS NULL
        AND u.is_active
);
