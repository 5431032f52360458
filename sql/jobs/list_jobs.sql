-- A page of jobs in one state, newest first, after the cursor :before_id (the max UUID for the
-- first page). Index: jobs_state_idx (state, id), read backwards.
-- name: list_jobs(state, before_id, limit)
SELECT
    id, kind, payload, state, attempts, max_attempts, run_at, leased_by, lease_expires_at,
    last_error, created_at, updated_at, finished_at
FROM jobs
WHERE state = :state AND id < :before_id
ORDER BY id DESC
LIMIT :limit;
