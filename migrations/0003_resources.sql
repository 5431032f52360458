-- Org-scoped resources: items (soft-deleted, versioned for optimistic concurrency), posts and
-- their comments. Every table leads its primary key with org_id (DESIGN.md section 4). Each list
-- order has its own index, partial on live rows, ending in id so keyset cursors are unique.
-- depends: 0002_orgs

CREATE TABLE items (
    org_id uuid NOT NULL REFERENCES orgs (id),
    id uuid NOT NULL,
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description text CHECK (char_length(description) <= 10000),
    -- An amount in the currency's minor units (cents for USD); both or neither.
    price bigint CHECK (price BETWEEN 0 AND 1000000000000000),
    currency text CHECK (currency ~ '^[A-Z]{3}$'),
    tags text [] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('draft', 'active', 'archived')),
    metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    -- Bumped by every change; the ETag of the item, compared with If-Match on writes.
    version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_by_type text NOT NULL CHECK (created_by_type IN ('user', 'api_key')),
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    -- Words of the name and description for ?search=; 'simple' keeps every language's words.
    search tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', name || ' ' || coalesce(description, ''))
    ) STORED,
    PRIMARY KEY (org_id, id),
    CHECK ((price IS NULL) = (currency IS NULL))
);

-- sort=-created_at / created_at (the default order), and the created_from/created_to filters.
CREATE INDEX items_org_created_idx ON items (org_id, created_at, id) WHERE deleted_at IS NULL;
-- sort=name / -name, and name_prefix: byte order ("C") so a prefix is one index range.
CREATE INDEX items_org_name_idx ON items (org_id, (name COLLATE "C"), id) WHERE deleted_at IS NULL;
-- sort=price / -price, and price_min/price_max: items without a price sort as -1 (first
-- ascending, last descending) so the key is never NULL and the cursor stays a plain comparison.
CREATE INDEX items_org_price_idx ON items (org_id, (coalesce(price, -1)), id) WHERE deleted_at IS NULL;
-- ?search=: the org's matching rows in one index probe. btree_gin lets a GIN index lead with
-- org_id, so a word that is common in other orgs costs nothing in this one. (btree_gin ships
-- with PostgreSQL's contrib and is a trusted extension: a database owner may create it.)
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX items_search_idx ON items USING gin (org_id, search) WHERE deleted_at IS NULL;
-- (?tag= needs no index of its own: it filters the ordered scan of the org's rows.)

CREATE TABLE posts (
    org_id uuid NOT NULL REFERENCES orgs (id),
    id uuid NOT NULL,
    author_id uuid NOT NULL REFERENCES users (id),
    title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 300),
    body text NOT NULL CHECK (char_length(body) <= 100000),
    published boolean NOT NULL DEFAULT false,
    published_at timestamptz,
    -- Kept by the comments trigger below, in the transaction of each comment write.
    comment_count integer NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CHECK (published = (published_at IS NOT NULL))
);

-- The org's posts, newest first.
CREATE INDEX posts_org_created_idx ON posts (org_id, created_at, id);
-- ?author_id= and the activity feed (one author's recent posts).
CREATE INDEX posts_org_author_idx ON posts (org_id, author_id, created_at, id);

CREATE TABLE comments (
    org_id uuid NOT NULL,
    id uuid NOT NULL,
    post_id uuid NOT NULL,
    author_id uuid NOT NULL REFERENCES users (id),
    body text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 10000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    -- Deleting a post deletes its comments; the composite key keeps a comment in its post's org.
    FOREIGN KEY (org_id, post_id) REFERENCES posts (org_id, id) ON DELETE CASCADE
);

-- A post's comments, oldest first (also serves the cascade from posts).
CREATE INDEX comments_org_post_idx ON comments (org_id, post_id, created_at, id);
-- The activity feed: one author's recent comments in an org.
CREATE INDEX comments_org_author_idx ON comments (org_id, author_id, created_at, id);

-- posts.comment_count follows every insert and delete of a comment, whoever writes it: the
-- count is a property of the data, so the database keeps it, in the writer's transaction.
CREATE FUNCTION comments_keep_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF tg_op = 'INSERT' THEN
        UPDATE posts SET comment_count = comment_count + 1
        WHERE org_id = new.org_id AND id = new.post_id;
    ELSE
        UPDATE posts SET comment_count = comment_count - 1
        WHERE org_id = old.org_id AND id = old.post_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER comments_count
AFTER INSERT OR DELETE ON comments
FOR EACH ROW EXECUTE FUNCTION comments_keep_count();
