-- A job failed: due again at :retry_at, or dead (with :error kept) when :dead is true (no
-- attempts left, or a permanent failure). Only the holder of the current lease may say so.
-- Index: jobs_pkey (or jobs_state_idx, state and id, where the state is named).
-- name: fail_job(id, lease_token, error, dead, retry_at)^
UPDATE jobs
SET
    state = CASE WHEN :dead::boolean THEN 'dead' ELSE 'queued' END,
    run_at = CASE WHEN :dead::boolean THEN run_at ELSE :retry_at::timestamptz END,
    finished_at = CASE WHEN :dead::boolean THEN now() END,
    last_error = left(:error::text, 2000),
    lease_token = NULL, leased_by = NULL, lease_expires_at = NULL, updated_at = now()
WHERE id = :id AND state = 'running' AND lease_token = :lease_token
RETURNING id, state;
