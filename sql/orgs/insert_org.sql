-- Create an organization. Index: orgs_pkey; orgs_slug_key refuses a slug a live org uses.
-- name: insert_org(id, name, slug, created_by)^
INSERT INTO orgs (id, name, slug, created_by)
VALUES (:id, :name, :slug, :created_by)
RETURNING id, name, slug, created_at, updated_at;
