-- Purge domain events that occurred before :before, 1,000 at a time; their deliveries and the
-- attempt log go with them (foreign keys ON DELETE CASCADE). Run by each worker's maintenance.
-- Index: domain_events_occurred_idx (occurred_at); webhook_deliveries_event_idx for the cascade.
-- cross-tenant: retention applies to every org alike; rows are matched on their own key.
-- name: delete_old_domain_events(before)
WITH old AS (
    SELECT org_id, id
    FROM domain_events
    WHERE occurred_at < :before
    ORDER BY occurred_at
    LIMIT 1000
    FOR UPDATE SKIP LOCKED
)

DELETE FROM domain_events AS e
USING old
WHERE e.org_id = old.org_id AND e.id = old.id
RETURNING e.id;
