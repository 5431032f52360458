-- How many jobs are dead (the dead-letter queue): the worker alerts when the number grows.
-- Index: jobs_state_idx (one index range over the dead jobs only).
-- name: count_dead_jobs()$
SELECT count(*) FROM jobs WHERE state = 'dead';
