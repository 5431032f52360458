-- Add a comment to a post; the comments_count trigger adds one to posts.comment_count in the
-- same transaction. Index: comments_pkey; the foreign key checks posts_pkey.
-- name: insert_comment(org_id, id, post_id, author_id, body)^
INSERT INTO comments (org_id, id, post_id, author_id, body)
VALUES (:org_id, :id, :post_id, :author_id, :body)
RETURNING id, post_id, author_id, body, created_at, updated_at;
