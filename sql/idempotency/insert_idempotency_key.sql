-- Store the first successful response of (caller, key), in the transaction of its effect.
-- An expired row of the same key is replaced. Index: idempotency_keys_pkey.
-- name: insert_idempotency_key(caller, idempotency_key, request_hash, method, path, status_code, response_headers, response_body, expires_at)!
INSERT INTO idempotency_keys (
    caller, idempotency_key, request_hash, method, path, status_code, response_headers,
    response_body, expires_at
)
VALUES (
    :caller, :idempotency_key, :request_hash, :method, :path, :status_code, :response_headers,
    :response_body, :expires_at
)
ON CONFLICT (caller, idempotency_key) DO UPDATE
    SET request_hash = excluded.request_hash,
        method = excluded.method,
        path = excluded.path,
        status_code = excluded.status_code,
        response_headers = excluded.response_headers,
        response_body = excluded.response_body,
        created_at = now(),
        expires_at = excluded.expires_at
    WHERE idempotency_keys.expires_at <= now();
