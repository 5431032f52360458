-- One comment of an org. Index: comments_pkey (org_id, id).
-- name: get_comment(org_id, id)^
SELECT id, post_id, author_id, body, created_at, updated_at
FROM comments
WHERE org_id = :org_id AND id = :id;
