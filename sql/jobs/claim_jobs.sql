-- Claim up to :limit due jobs of the kinds this worker runs (:kinds): each gets a fresh lease
-- token and a lease of :lease_seconds. SKIP LOCKED lets several workers claim at once without
-- waiting on or double-claiming each other's rows. Jobs of kinds no running worker knows stay
-- queued (visible to admins) rather than failing.
-- Index: jobs_due_idx (queued jobs in the order they fall due).
-- name: claim_jobs(kinds, limit, worker, lease_seconds)
WITH due AS (
    SELECT id
    FROM jobs
    WHERE state = 'queued' AND run_at <= now() AND kind = any(:kinds::text [])
    ORDER BY run_at, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)

UPDATE jobs AS j
SET
    state = 'running',
    attempts = j.attempts + 1,
    lease_token = gen_random_uuid(),
    leased_by = :worker,
    lease_expires_at = now() + make_interval(secs => :lease_seconds),
    updated_at = now()
FROM due
WHERE j.id = due.id
RETURNING j.id, j.kind, j.payload, j.attempts, j.max_attempts, j.lease_token, j.created_at;
