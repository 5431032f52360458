-- Store a new pending (unconfirmed) TOTP secret, replacing a pending one; a confirmed row is
-- left alone and no row is returned (two-factor is already on). Index: user_mfa_pkey.
-- name: upsert_mfa_secret(user_id, secret_ciphertext)^
INSERT INTO user_mfa AS m (user_id, secret_ciphertext)
VALUES (:user_id, :secret_ciphertext)
ON CONFLICT (user_id) DO UPDATE
    SET
        secret_ciphertext = excluded.secret_ciphertext,
        last_used_step = NULL,
        created_at = now(),
        updated_at = now()
    WHERE m.confirmed_at IS NULL
RETURNING m.user_id;
