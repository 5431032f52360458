-- One inbound event with its raw body. Index: inbound_events_pkey (source, event_id).
-- name: get_inbound_event(source, event_id)^
SELECT id, source, event_id, event_type, body, state, received_at, processed_at, last_error
FROM inbound_events
WHERE source = :source AND event_id = :event_id;
