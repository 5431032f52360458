-- How many jobs are in each state (finished ones are purged after the retention window, so
-- this stays small). Index: jobs_state_idx (an index-only scan).
-- name: count_jobs_by_state()
SELECT state, count(*) AS total
FROM jobs
GROUP BY state;
