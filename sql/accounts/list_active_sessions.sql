-- The caller's live sessions, newest first, keyset-paginated on id (UUIDv7, time-ordered).
-- Index: auth_sessions_user_active_idx (user_id, id DESC) WHERE revoked_at IS NULL.
-- name: list_active_sessions(user_id, after_id, limit)
SELECT id, user_agent, host(ip) AS ip, created_at, last_used_at, expires_at
FROM auth_sessions
WHERE user_id = :user_id
    AND revoked_at IS NULL
    AND expires_at > now()
    AND (:after_id::uuid IS NULL OR id < :after_id::uuid)
ORDER BY id DESC
LIMIT :limit;
