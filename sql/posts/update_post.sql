-- Change some fields of a post. Publishing stamps published_at once; unpublishing clears it.
-- A set_* flag says whether a field was sent. Index: posts_pkey (org_id, id).
-- name: update_post(org_id, id, set_title, title, set_body, body, set_published, published)^
UPDATE posts
SET
    title = CASE WHEN :set_title THEN :title ELSE title END,
    body = CASE WHEN :set_body THEN :body ELSE body END,
    published = CASE WHEN :set_published THEN :published ELSE published END,
    published_at = CASE
        WHEN NOT :set_published THEN published_at
        WHEN :published THEN coalesce(published_at, now())
    END,
    updated_at = now()
WHERE org_id = :org_id AND id = :id
RETURNING id, author_id, title, body, published, published_at, comment_count, created_at, updated_at;
