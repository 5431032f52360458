-- Two-factor authentication (TOTP, RFC 6238): each user's secret (encrypted by the application
-- with AES-GCM, bound to the user id), their one-time backup codes (SHA-256 digests), and the
-- short-lived sign-in challenges a correct password yields while two-factor is on.
-- depends: 0004_events

-- One row per user who started or finished setting up two-factor. confirmed_at NULL: set up but
-- not confirmed with a first code yet (two-factor is off). last_used_step is the TOTP time step
-- (unix time / 30) of the last accepted code: a code is accepted only for a later step (replay).
CREATE TABLE user_mfa (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- version (1) + key id (4) + nonce (12) + ciphertext + tag (16): app.core.encryption.
    secret_ciphertext bytea NOT NULL CHECK (octet_length(secret_ciphertext) BETWEEN 34 AND 512),
    confirmed_at timestamptz,
    last_used_step bigint CHECK (last_used_step >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (confirmed_at IS NOT NULL OR last_used_step IS NULL)
);

-- Backup codes: high-entropy random codes, stored only as digests; each works once. They belong
-- to the two-factor row, so turning two-factor off removes them.
CREATE TABLE mfa_backup_codes (
    user_id uuid NOT NULL REFERENCES user_mfa (user_id) ON DELETE CASCADE,
    code_hash bytea NOT NULL CHECK (octet_length(code_hash) = 32),
    used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, code_hash)
);

-- A password accepted for an account with two-factor on: an opaque token (stored as its digest)
-- exchanged, with a code, for a token pair. Single use, short-lived, and spent after
-- max_attempts tries. login_name is what the password step was throttled under.
CREATE TABLE mfa_challenges (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    login_name text NOT NULL CHECK (char_length(login_name) BETWEEN 1 AND 254),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
    user_agent text CHECK (char_length(user_agent) <= 512),
    ip inet,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    CHECK (attempts <= max_attempts),
    CHECK (expires_at > created_at)
);

-- Serves the per-user clean-up done with each new challenge and the ON DELETE CASCADE from users.
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);
