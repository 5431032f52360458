-- Webhook endpoint secret rotation with a grace period: after a rotation the previous secret
-- keeps signing deliveries, beside the new one, until previous_secret_expires_at
-- (WEBHOOK_ROTATION_GRACE_HOURS), so a receiver can switch secrets without rejecting a delivery.
-- Both columns are NULL outside a grace period.
-- depends: 0006_idempotency_keys

SET LOCAL lock_timeout = '5s';

-- One statement, one short ACCESS EXCLUSIVE lock: the new columns are NULL in every row, so the
-- check's scan of this small table (at most MAX_WEBHOOK_ENDPOINTS_PER_ORG rows per org) finds
-- nothing to reject. NOT VALID + VALIDATE would need a second transaction for no gain.
ALTER TABLE webhook_endpoints
ADD COLUMN previous_secret text,
ADD COLUMN previous_secret_expires_at timestamptz,
-- squawk-ignore constraint-missing-not-valid
ADD CONSTRAINT webhook_endpoints_previous_secret_check CHECK (
    (previous_secret IS NULL) = (previous_secret_expires_at IS NULL)
    AND (previous_secret IS NULL OR char_length(previous_secret) BETWEEN 32 AND 200)
);
