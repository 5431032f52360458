-- Record how processing ended: 'processed', 'ignored' (no handler for its type) or 'failed'
-- (retries exhausted; :error says why). Index: inbound_events_pkey (source, event_id).
-- name: finish_inbound_event(source, event_id, state, error)^
UPDATE inbound_events
SET state = :state, processed_at = now(), last_error = left(:error::text, 2000)
WHERE source = :source AND event_id = :event_id AND state = 'received'
RETURNING id;
