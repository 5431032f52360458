-- Revoke every live session of a user, optionally sparing one (the caller's current session).
-- Index: auth_sessions_user_active_idx.
-- name: revoke_user_sessions(user_id, reason, keep_id)!
UPDATE auth_sessions
SET revoked_at = now(), revoked_reason = :reason
WHERE user_id = :user_id
    AND revoked_at IS NULL
    AND (:keep_id::uuid IS NULL OR id <> :keep_id::uuid);
