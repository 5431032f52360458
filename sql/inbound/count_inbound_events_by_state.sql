-- How many inbound events are in each state, one index range per state. Index:
-- inbound_events_state_idx (state, id) for the small states; counting the processed majority
-- reads most of the table either way, and the planner may scan the table for that one.
-- name: count_inbound_events_by_state()
SELECT 'received' AS state, count(*) AS total FROM inbound_events WHERE state = 'received'
UNION ALL
SELECT 'processed', count(*) FROM inbound_events WHERE state = 'processed'
UNION ALL
SELECT 'ignored', count(*) FROM inbound_events WHERE state = 'ignored'
UNION ALL
SELECT 'failed', count(*) FROM inbound_events WHERE state = 'failed';
