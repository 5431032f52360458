-- The heartbeat of a worker: renew the leases of the jobs it is running, so a long job keeps its
-- lease while a dead worker's jobs are free again soon. A job whose lease was already lost (its
-- token changed) is not renewed. Index: jobs_pkey, once per job.
-- name: extend_job_leases(ids, lease_tokens, lease_seconds)
UPDATE jobs AS j
SET lease_expires_at = now() + make_interval(secs => :lease_seconds), updated_at = now()
FROM unnest(:ids::uuid [], :lease_tokens::uuid []) AS held (id, lease_token)
WHERE j.id = held.id AND j.state = 'running' AND j.lease_token = held.lease_token
RETURNING j.id;
