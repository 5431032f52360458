-- Turn two-factor on with the first accepted code's time step, only if the pending secret is
-- still the one the code was checked against (not replaced meanwhile). Index: user_mfa_pkey.
-- name: confirm_mfa(user_id, secret_ciphertext, step)^
UPDATE user_mfa
SET confirmed_at = now(), last_used_step = :step, updated_at = now()
WHERE user_id = :user_id
    AND confirmed_at IS NULL
    AND secret_ciphertext = :secret_ciphertext
RETURNING user_id;
