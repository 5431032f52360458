-- Append one event to an organization's audit log, in the transaction of the change it
-- records. Index: audit_events_pkey.
-- name: insert_audit_event(org_id, id, actor_type, actor_id, action, target_type, target_id, before, after, request_id, ip)!
INSERT INTO audit_events (
    org_id, id, actor_type, actor_id, action, target_type, target_id, before, after, request_id, ip
)
VALUES (
    :org_id, :id, :actor_type, :actor_id, :action, :target_type, :target_id,
    :before, :after, :request_id, :ip::inet
);
