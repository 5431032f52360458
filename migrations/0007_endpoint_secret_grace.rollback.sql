-- Undo 0007_endpoint_secret_grace: previous secrets are forgotten; deliveries are signed with the
-- current secret only.

SET LOCAL lock_timeout = '5s';

-- Their check constraint goes with them.
ALTER TABLE webhook_endpoints
DROP COLUMN previous_secret_expires_at,
DROP COLUMN previous_secret;
