-- Change the name and/or slug of a live organization; set_* flags say which fields change.
-- Index: orgs_pkey; orgs_slug_key refuses a slug a live org uses.
-- name: update_org(org_id, set_name, name, set_slug, slug)^
UPDATE orgs
SET
    name = CASE WHEN :set_name THEN :name ELSE name END,
    slug = CASE WHEN :set_slug THEN :slug ELSE slug END,
    updated_at = now()
WHERE id = :org_id AND deleted_at IS NULL
RETURNING id, name, slug, created_at, updated_at;
