-- A job finished: succeeded. Only the holder of the current lease may say so.
-- Index: jobs_pkey (or jobs_state_idx, state and id, where the state is named).
-- name: complete_job(id, lease_token)^
UPDATE jobs
SET
    state = 'succeeded', finished_at = now(), last_error = NULL,
    lease_token = NULL, leased_by = NULL, lease_expires_at = NULL, updated_at = now()
WHERE id = :id AND state = 'running' AND lease_token = :lease_token
RETURNING id;
