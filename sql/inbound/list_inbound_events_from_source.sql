-- A page of one source's inbound events in one state, newest first, after :before_id.
-- Index: inbound_events_state_source_idx (state, source, id), read backwards.
-- name: list_inbound_events_from_source(state, source, before_id, limit)
SELECT id, source, event_id, event_type, state, received_at, processed_at, last_error
FROM inbound_events
WHERE state = :state AND source = :source AND id < :before_id
ORDER BY id DESC
LIMIT :limit;
