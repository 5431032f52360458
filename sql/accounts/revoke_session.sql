-- Revoke one live session of a user (logout, or the user ending a session). Index:
-- auth_sessions_pkey or auth_sessions_user_active_idx (both pin one row; the planner picks);
-- user_id in the WHERE keeps a user from revoking another's session.
-- name: revoke_session(id, user_id, reason)$
UPDATE auth_sessions
SET revoked_at = now(), revoked_reason = :reason
WHERE id = :id AND user_id = :user_id AND revoked_at IS NULL
RETURNING id;
