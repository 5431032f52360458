-- The stored response of (caller, key), if it has not expired. Index: idempotency_keys_pkey.
-- name: get_idempotency_key(caller, idempotency_key)^
SELECT request_hash, status_code, response_headers, response_body
FROM idempotency_keys
WHERE caller = :caller AND idempotency_key = :idempotency_key AND expires_at > now();
