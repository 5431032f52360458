-- Lock a live organization's row for the rest of the transaction. Every change to the set of
-- owners takes this lock first, so "at least one owner" holds under concurrent requests.
-- FOR NO KEY UPDATE does not block inserts that reference the org (their FK takes KEY SHARE).
-- Index: orgs_pkey.
-- name: lock_org(org_id)$
SELECT id
FROM orgs
WHERE id = :org_id AND deleted_at IS NULL
FOR NO KEY UPDATE;
