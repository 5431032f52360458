-- An admin retries a dead job: due at once with a fresh set of attempts; wakes the workers.
-- Index: jobs_pkey (or jobs_state_idx, state and id, where the state is named).
-- name: revive_job(id)$
WITH revived AS (
    UPDATE jobs
    SET state = 'queued', attempts = 0, run_at = now(), finished_at = NULL, updated_at = now()
    WHERE id = :id AND state = 'dead'
    RETURNING id, kind
)

SELECT revived.id
FROM revived
CROSS JOIN LATERAL pg_notify('app_jobs', revived.kind);
