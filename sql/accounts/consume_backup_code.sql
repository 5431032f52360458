-- Spend a backup code atomically: an unused code of this user matches once. :code_hashes are
-- the code's HMACs under each configured key (one, or two while rotating). Index:
-- mfa_backup_codes_pkey.
-- name: consume_backup_code(user_id, code_hashes)^
UPDATE mfa_backup_codes
SET used_at = now()
WHERE user_id = :user_id
    AND code_hash = any(:code_hashes::bytea [])
    AND used_at IS NULL
RETURNING user_id;
