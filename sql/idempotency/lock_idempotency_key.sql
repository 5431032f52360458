-- Claim (caller, key) for this transaction without waiting: false while another request with the
-- same key is in flight. Transaction-level advisory lock, released at commit or rollback.
-- Index: none (no table read; pg_locks only).
-- name: lock_idempotency_key(caller, idempotency_key)$
SELECT pg_try_advisory_xact_lock(hashtextextended(:caller || ' ' || :idempotency_key, 7));
