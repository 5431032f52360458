-- One post of an org. Index: posts_pkey (org_id, id).
-- name: get_post(org_id, id)^
SELECT id, author_id, title, body, published, published_at, comment_count, created_at, updated_at
FROM posts
WHERE org_id = :org_id AND id = :id;
