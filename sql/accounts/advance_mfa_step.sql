-- Accept a TOTP code's time step atomically: only a step later than the last accepted one
-- matches, so a code (or an earlier one) is never accepted twice, even by concurrent requests.
-- Index: user_mfa_pkey.
-- name: advance_mfa_step(user_id, step)^
UPDATE user_mfa
SET last_used_step = :step, updated_at = now()
WHERE user_id = :user_id
    AND confirmed_at IS NOT NULL
    AND (last_used_step IS NULL OR last_used_step < :step)
RETURNING user_id;
