-- Create a post; published_at is set when it is created published. Index: posts_pkey.
-- name: insert_post(org_id, id, author_id, title, body, published)^
INSERT INTO posts (org_id, id, author_id, title, body, published, published_at)
VALUES (
    :org_id, :id, :author_id, :title, :body, :published,
    CASE WHEN :published THEN now() END
)
RETURNING id, author_id, title, body, published, published_at, comment_count, created_at, updated_at;
