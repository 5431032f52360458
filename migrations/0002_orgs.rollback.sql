-- Undo 0002_orgs: drop the organization tables in dependency order.
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE api_keys;
DROP TABLE org_invitations;
DROP TABLE org_members;
DROP TABLE orgs;
