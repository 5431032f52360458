-- A page of a post's comments, oldest first, after the keyset cursor.
-- Index: comments_org_post_idx (org_id, post_id, created_at, id).
-- name: list_comments(org_id, post_id, start_key, start_id, limit)
SELECT id, post_id, author_id, body, created_at, updated_at
FROM comments
WHERE org_id = :org_id AND post_id = :post_id
    AND (created_at, id) > (:start_key::timestamptz, :start_id::uuid)
ORDER BY created_at, id
LIMIT :limit;
