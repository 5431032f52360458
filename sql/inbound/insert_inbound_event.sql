-- Store a verified inbound webhook event and queue its processing, in one statement: a row
-- comes back only for a new event; a duplicate delivery (same source and provider event id)
-- stores and queues nothing. The NOTIFY wakes a worker when the statement commits.
-- Index: inbound_events_pkey (source, event_id) decides new or duplicate; jobs_pkey.
-- name: insert_inbound_event(id, source, event_id, event_type, body, job_id, max_attempts)^
WITH stored AS (
    INSERT INTO inbound_events (source, event_id, id, event_type, body)
    VALUES (:source, :event_id, :id, :event_type, :body)
    ON CONFLICT (source, event_id) DO NOTHING
    RETURNING id, source, event_id
),

queued AS (
    INSERT INTO jobs (id, kind, payload, max_attempts)
    SELECT
        :job_id,
        'inbound.process',
        jsonb_build_object('source', stored.source, 'event_id', stored.event_id),
        :max_attempts
    FROM stored
    RETURNING id
)

SELECT stored.id
FROM stored
CROSS JOIN queued
CROSS JOIN LATERAL pg_notify('app_jobs', 'inbound.process');
