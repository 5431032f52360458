-- Purge expired idempotency keys, 1,000 at a time (worker housekeeping).
-- Index: idempotency_keys_expires_idx (expires_at).
-- name: delete_expired_idempotency_keys()
WITH expired AS (
    SELECT caller, idempotency_key
    FROM idempotency_keys
    WHERE expires_at <= now()
    ORDER BY expires_at
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)

DELETE FROM idempotency_keys AS k
USING expired
WHERE k.caller = expired.caller AND k.idempotency_key = expired.idempotency_key
RETURNING k.caller;
