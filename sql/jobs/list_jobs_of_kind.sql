-- A page of jobs of one kind in one state, newest first, after the cursor :before_id.
-- Index: jobs_state_kind_idx (state, kind, id), read backwards.
-- name: list_jobs_of_kind(state, kind, before_id, limit)
SELECT
    id, kind, payload, state, attempts, max_attempts, run_at, leased_by, lease_expires_at,
    last_error, created_at, updated_at, finished_at
FROM jobs
WHERE state = :state AND kind = :kind AND id < :before_id
ORDER BY id DESC
LIMIT :limit;
