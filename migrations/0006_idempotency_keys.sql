-- Idempotency keys: the first successful response to a create request sent with an
-- `Idempotency-Key` header, kept for IDEMPOTENCY_TTL_HOURS and replayed to retries.
-- A row is written in the same transaction as the effect it guards (docs/IDEMPOTENCY.md), so
-- a committed effect always has its stored response and a rolled-back one never does.
-- depends: 0005_mfa

CREATE TABLE idempotency_keys (
    -- Who sent it: 'user:<uuid>' or 'api_key:<uuid>'; keys of different callers never meet.
    caller text NOT NULL CHECK (char_length(caller) BETWEEN 1 AND 64),
    idempotency_key text NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    -- sha256 of method, path and body: a retry must be the same request.
    request_hash bytea NOT NULL CHECK (octet_length(request_hash) = 32),
    method text NOT NULL CHECK (method IN ('POST', 'PUT', 'PATCH', 'DELETE')),
    path text NOT NULL CHECK (char_length(path) <= 2048),
    status_code smallint NOT NULL CHECK (status_code BETWEEN 200 AND 299),
    -- The headers worth replaying (content-type, location, etag), as [[name, value], ...].
    response_headers jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(response_headers) = 'array'),
    -- Encrypted (AES-GCM, bound to caller and key): a create may answer with a secret shown once.
    response_body bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CHECK (expires_at > created_at),
    PRIMARY KEY (caller, idempotency_key)
);

-- Serves the retention purge (oldest expired first).
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
