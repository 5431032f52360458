-- Undo 0004_events: drop the event and job tables and the platform-admin grants.

DROP TABLE webhook_delivery_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE domain_events;
DROP TABLE inbound_events;
DROP TABLE jobs;
DROP TABLE platform_admins;
