-- A delivery to the endpoint succeeded: it is healthy again. Index: webhook_endpoints_pkey.
-- name: record_endpoint_success(org_id, endpoint_id)!
UPDATE webhook_endpoints
SET consecutive_failures = 0, failing_since = NULL
WHERE org_id = :org_id AND id = :endpoint_id AND (consecutive_failures > 0 OR failing_since IS NOT NULL);
