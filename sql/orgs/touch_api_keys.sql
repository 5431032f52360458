-- Record when keys were last used, for many keys in one statement (each worker batches its
-- uses and flushes them periodically; never a write per request). Never moves a time back.
-- Index: api_keys_pkey for a handful of keys; for a big batch against a small api_keys table the
-- planner may hash the batch and scan the table instead, which is cheaper there (a background flush).
-- cross-tenant: a batch spans orgs; each row is matched on its own (org_id, id).
-- name: touch_api_keys(org_ids, ids, used_at)!
UPDATE api_keys AS k
SET last_used_at = u.used_at
FROM unnest(:org_ids::uuid [], :ids::uuid [], :used_at::timestamptz []) AS u (org_id, id, used_at)
WHERE k.org_id = u.org_id AND k.id = u.id
    AND (k.last_used_at IS NULL OR k.last_used_at < u.used_at);
