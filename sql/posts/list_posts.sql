-- A page of an org's posts, newest first, after the keyset cursor.
-- Index: posts_org_created_idx (org_id, created_at, id).
-- name: list_posts(org_id, start_key, start_id, viewer_id, all_drafts, published, limit)
SELECT id, author_id, title, body, published, published_at, comment_count, created_at, updated_at
FROM posts
WHERE org_id = :org_id
    AND (created_at, id) < (:start_key::timestamptz, :start_id::uuid)
    -- Drafts are visible to their author, and to everyone when :all_drafts (admins). One
    -- coalesce(..., false) so the planner estimates the filters as one clause (see sql/items).
    AND coalesce(
        (published OR author_id = :viewer_id OR :all_drafts)
        AND (:published::boolean IS NULL OR published = :published),
        false
    )
ORDER BY created_at DESC, id DESC
LIMIT :limit;
