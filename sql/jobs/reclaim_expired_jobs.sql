-- Jobs whose worker died or hung past its lease: due again at once, or dead when that was the
-- last attempt. A finisher that comes back late is fenced off by its old lease token.
-- Index: jobs_lease_idx (running jobs by lease end).
-- name: reclaim_expired_jobs(limit)
WITH expired AS (
    SELECT id
    FROM jobs
    WHERE state = 'running' AND lease_expires_at < now()
    ORDER BY lease_expires_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)

UPDATE jobs AS j
SET
    state = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'queued' END,
    run_at = now(),
    last_error = left('lease expired (worker ' || coalesce(j.leased_by, '?') || ' did not finish)', 2000),
    finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,
    lease_token = NULL,
    leased_by = NULL,
    lease_expires_at = NULL,
    updated_at = now()
FROM expired
WHERE j.id = expired.id
RETURNING j.id, j.kind, j.state, j.payload, j.last_error;
