-- Lock a live organization's row before its webhook endpoints are counted and one is added
-- (insert_webhook_endpoint): two creates in the same org queue here, so the second counts
-- after the first has committed and the per-org limit holds under concurrency. FOR NO KEY
-- UPDATE does not block inserts that reference the org (their FK takes KEY SHARE).
-- Index: orgs_pkey.
-- name: lock_webhook_endpoint_quota(org_id)$
SELECT id
FROM orgs
WHERE id = :org_id AND deleted_at IS NULL
FOR NO KEY UPDATE;
