-- An admin retries a failed event: back to 'received' with a new processing job, woken at once.
-- Index: inbound_events_pkey (source, event_id); jobs_pkey.
-- name: requeue_inbound_event(source, event_id, job_id, max_attempts)^
WITH reset AS (
    UPDATE inbound_events
    SET state = 'received', processed_at = NULL, last_error = NULL
    WHERE source = :source AND event_id = :event_id AND state = 'failed'
    RETURNING id, source, event_id
),

queued AS (
    INSERT INTO jobs (id, kind, payload, max_attempts)
    SELECT
        :job_id,
        'inbound.process',
        jsonb_build_object('source', reset.source, 'event_id', reset.event_id),
        :max_attempts
    FROM reset
    RETURNING id
)

SELECT reset.id
FROM reset
CROSS JOIN queued
CROSS JOIN LATERAL pg_notify('app_jobs', 'inbound.process');
