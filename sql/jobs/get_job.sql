-- One job with everything an admin sees. Index: jobs_pkey.
-- name: get_job(id)^
SELECT
    id, kind, payload, state, attempts, max_attempts, run_at, leased_by, lease_expires_at,
    last_error, created_at, updated_at, finished_at
FROM jobs
WHERE id = :id;
