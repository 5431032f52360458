-- Spend a backup code atomically: an unused code of this user matches once. Index:
-- mfa_backup_codes_pkey.
-- name: consume_backup_code(user_id, code_hash)^
UPDATE mfa_backup_codes
SET used_at = now()
WHERE user_id = :user_id
    AND code_hash = :code_hash
    AND used_at IS NULL
RETURNING user_id;
