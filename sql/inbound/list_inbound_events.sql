-- A page of inbound events in one state, newest first, after the cursor :before_id (the max
-- UUID for the first page); without the raw bodies. Index: inbound_events_state_idx (state, id),
-- read backwards.
-- name: list_inbound_events(state, before_id, limit)
SELECT id, source, event_id, event_type, state, received_at, processed_at, last_error
FROM inbound_events
WHERE state = :state AND id < :before_id
ORDER BY id DESC
LIMIT :limit;
