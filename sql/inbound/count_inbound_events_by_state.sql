-- How many inbound events are in each state. Index: inbound_events_state_idx (index-only scan).
-- name: count_inbound_events_by_state()
SELECT state, count(*) AS total
FROM inbound_events
GROUP BY state;
