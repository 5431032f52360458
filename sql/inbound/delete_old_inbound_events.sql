-- Purge inbound events in :state (processed or ignored: handled) received before :before_id,
-- oldest first, 1,000 at a time (worker housekeeping). Failed and not yet handled events are never
-- passed: an admin may still retry them. :before_id is the first UUIDv7 of the cut-off moment, so
-- `id <` means "received before". One state per call keeps the plan an ordered index range scan;
-- deleting by `id = any(array)` keeps the delete on the id index (a join could hash the table).
-- Index: inbound_events_state_idx (state, id) to find them; inbound_events_id_key (id) to delete.
-- name: delete_old_inbound_events(state, before_id)
WITH old AS (
    SELECT id
    FROM inbound_events
    WHERE state = :state AND id < :before_id
    ORDER BY id
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)

DELETE FROM inbound_events
WHERE id = any(ARRAY(SELECT old.id FROM old))
RETURNING id;
