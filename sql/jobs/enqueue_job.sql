-- Queue one job, due at :run_at (null: at once), and wake the workers: the notification is
-- delivered when the surrounding transaction commits, and not at all if it rolls back.
-- Index: jobs_pkey (the id is new); jobs_due_idx then serves the claim.
-- name: enqueue_job(id, kind, payload, max_attempts, run_at)$
WITH queued AS (
    INSERT INTO jobs (id, kind, payload, max_attempts, run_at)
    VALUES (:id, :kind, :payload, :max_attempts, coalesce(:run_at::timestamptz, now()))
    RETURNING id, kind
)

SELECT queued.id
FROM queued
CROSS JOIN LATERAL pg_notify('app_jobs', queued.kind);
