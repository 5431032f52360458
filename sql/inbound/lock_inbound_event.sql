-- Lock an event that is still waiting to be processed, for the worker's transaction that runs its
-- handler and records the outcome together; none if it was processed (or given up) already.
-- Index: inbound_events_pkey (source, event_id).
-- name: lock_inbound_event(source, event_id)^
SELECT id, source, event_id, event_type, body, state, received_at, processed_at, last_error
FROM inbound_events
WHERE source = :source AND event_id = :event_id AND state = 'received'
FOR UPDATE;
