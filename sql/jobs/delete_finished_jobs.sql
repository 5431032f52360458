-- Purge succeeded jobs finished before :before, 1,000 at a time (dead jobs stay until an admin
-- acts). Index: jobs_finished_idx (finished_at of succeeded jobs). The batch size is a constant:
-- with a bound LIMIT a generic plan assumes it returns a tenth of the rows, and scans the table.
-- name: delete_finished_jobs(before)
WITH old AS (
    SELECT id
    FROM jobs
    WHERE state = 'succeeded' AND finished_at < :before
    ORDER BY finished_at
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)

DELETE FROM jobs AS j
USING old
WHERE j.id = old.id
RETURNING j.id;
