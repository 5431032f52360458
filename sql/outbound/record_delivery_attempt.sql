-- Log one attempt of a delivery and update the delivery: 'succeeded', still 'pending' (a retry
-- follows), or 'failed' when :give_up. Index: webhook_deliveries_pkey; the attempt's new key.
-- name: record_delivery_attempt(org_id, attempt_id, delivery_id, status_code, latency_ms, error, succeeded, give_up)!
WITH attempt AS (
    UPDATE webhook_deliveries
    SET
        attempts = attempts + 1,
        state = CASE
            WHEN :succeeded::boolean THEN 'succeeded'
            WHEN :give_up::boolean THEN 'failed'
            ELSE 'pending'
        END,
        last_status_code = :status_code,
        last_error = left(:error::text, 500),
        delivered_at = CASE WHEN :succeeded::boolean THEN now() END,
        updated_at = now()
    WHERE org_id = :org_id AND id = :delivery_id
    RETURNING org_id, id, endpoint_id, attempts
)

INSERT INTO webhook_delivery_attempts (
    org_id, id, delivery_id, endpoint_id, attempt, status_code, latency_ms, error
)
SELECT
    attempt.org_id, :attempt_id, attempt.id, attempt.endpoint_id, attempt.attempts, :status_code,
    :latency_ms, left(:error::text, 500)
FROM attempt;
