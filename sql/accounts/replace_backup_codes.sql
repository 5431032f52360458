-- Replace every backup code of a user with new ones (digests), in one statement: the old codes
-- stop working as the new ones appear. Index: mfa_backup_codes_pkey.
-- name: replace_backup_codes(user_id, code_hashes)!
WITH removed AS (
    DELETE FROM mfa_backup_codes
    WHERE user_id = :user_id
)

INSERT INTO mfa_backup_codes (user_id, code_hash)
SELECT :user_id, code_hash
FROM unnest(:code_hashes::bytea []) AS c (code_hash);
