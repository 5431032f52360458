-- A page of an org's live items matching a full-text ?search=, newest first, with the same
-- cursor and filters as list_items_by_created_desc. The search index finds the org's matching
-- rows in one probe (it leads with org_id); they are sorted, so a search costs what its matches
-- in the org cost, while the plain lists stay index-ordered. MATERIALIZED keeps the planner
-- from walking the org's items newest first and testing each against the words instead: it
-- judges a word by its frequency over all orgs, and a word common elsewhere but rare in this
-- org would then read the org's whole index.
-- Index: items_search_idx (GIN on org_id, search), then items_pkey rows.
-- name: search_items(org_id, query, start_key, start_id, stop_key, status, tag, currency, price_lo, price_hi, created_lo, created_hi, name_lo, name_hi, limit)
WITH matches AS MATERIALIZED (
    SELECT
        id, name, description, price, currency, tags, status, metadata, version, created_by_type,
        created_by, created_at, updated_at
    FROM items
    WHERE org_id = :org_id AND deleted_at IS NULL
        AND search @@ websearch_to_tsquery('simple', :query)
        AND (created_at, id) < (:start_key::timestamptz, :start_id::uuid)
        AND created_at >= :stop_key::timestamptz
        -- The optional filters, wrapped in one coalesce(..., false) on purpose: the planner then
        -- estimates them as one clause (selectivity 0.5) instead of multiplying a guess per filter,
        -- which in a generic plan made the ordered index scan look worse than sort-after-fetch.
        AND coalesce(
            (:status::text IS NULL OR status = :status)
            AND (:tag::text IS NULL OR tags @> ARRAY[:tag::text])
            AND (:currency::text IS NULL OR currency = :currency)
            AND coalesce(price, -1) >= :price_lo AND coalesce(price, -1) < :price_hi
            AND created_at >= :created_lo AND created_at < :created_hi
            AND name COLLATE "C" >= :name_lo AND name COLLATE "C" < :name_hi,
            false
        )
)

SELECT
    id, name, description, price, currency, tags, status, metadata, version, created_by_type,
    created_by, created_at, updated_at
FROM matches
ORDER BY created_at DESC, id DESC
LIMIT :limit;
