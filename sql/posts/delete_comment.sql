-- Delete a comment; the comments_count trigger takes one off posts.comment_count in the same
-- transaction. Index: comments_pkey (org_id, id).
-- name: delete_comment(org_id, id)$
DELETE FROM comments
WHERE org_id = :org_id AND id = :id
RETURNING id;
