-- One author's most recent comments in an org, newest first (the activity feed).
-- Index: comments_org_author_idx (org_id, author_id, created_at, id).
-- name: list_comments_by_author(org_id, author_id, limit)
SELECT id, post_id, author_id, body, created_at, updated_at
FROM comments
WHERE org_id = :org_id AND author_id = :author_id
ORDER BY created_at DESC, id DESC
LIMIT :limit;
