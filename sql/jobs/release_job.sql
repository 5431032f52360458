-- Give an unfinished job back on shutdown: due again at once, and the attempt it was on is not
-- counted (it was interrupted, not failed). Only the holder of the current lease may do it.
-- Index: jobs_pkey (or jobs_state_idx, state and id, where the state is named).
-- name: release_job(id, lease_token)^
UPDATE jobs
SET
    state = 'queued', run_at = now(), attempts = greatest(attempts - 1, 0),
    lease_token = NULL, leased_by = NULL, lease_expires_at = NULL, updated_at = now()
WHERE id = :id AND state = 'running' AND lease_token = :lease_token
RETURNING id;
