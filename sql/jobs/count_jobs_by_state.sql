-- How many jobs are in each state, one index range per state (a GROUP BY over the whole table
-- would read every row; succeeded jobs are purged after the retention window).
-- Index: jobs_due_idx (queued), jobs_lease_idx (running), jobs_finished_idx (succeeded),
-- jobs_state_idx (dead).
-- name: count_jobs_by_state()
SELECT 'queued' AS state, count(*) AS total FROM jobs WHERE state = 'queued' AND run_at IS NOT NULL
UNION ALL
SELECT 'running', count(*) FROM jobs WHERE state = 'running' AND lease_expires_at IS NOT NULL
UNION ALL
SELECT 'succeeded', count(*) FROM jobs WHERE state = 'succeeded'
UNION ALL
SELECT 'dead', count(*) FROM jobs WHERE state = 'dead';
