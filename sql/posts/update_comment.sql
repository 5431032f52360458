-- Edit a comment's text. Index: comments_pkey (org_id, id).
-- name: update_comment(org_id, id, body)^
UPDATE comments
SET body = :body, updated_at = now()
WHERE org_id = :org_id AND id = :id
RETURNING id, post_id, author_id, body, created_at, updated_at;
