-- Delete a post; its comments go with it (ON DELETE CASCADE through comments_org_post_idx).
-- Index: posts_pkey (org_id, id).
-- name: delete_post(org_id, id)$
DELETE FROM posts
WHERE org_id = :org_id AND id = :id
RETURNING id;
