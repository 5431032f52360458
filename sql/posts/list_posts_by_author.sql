-- A page of one author's posts in an org, newest first, after the keyset cursor (also the
-- activity feed's recent posts). Index: posts_org_author_idx (org_id, author_id, created_at, id).
-- name: list_posts_by_author(org_id, author_id, start_key, start_id, viewer_id, all_drafts, published, limit)
SELECT id, author_id, title, body, published, published_at, comment_count, created_at, updated_at
FROM posts
WHERE org_id = :org_id AND author_id = :author_id
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
