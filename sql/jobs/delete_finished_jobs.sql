-- Purge succeeded jobs finished before :before, a batch at a time (dead jobs stay until an admin
-- acts). Index: jobs_state_idx narrows to succeeded jobs; finished_at is checked per row.
-- name: delete_finished_jobs(before, limit)
WITH old AS (
    SELECT id
    FROM jobs
    WHERE state = 'succeeded' AND finished_at < :before
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
DELETE FROM jobs AS j
USING old
WHERE j.id = old.id
RETURNING j.id;
