-- Undo 0003_resources: drop comments (with their count trigger), posts and items, and the
-- btree_gin extension that items_search_idx needed (refused if anything else still uses it).
DROP TABLE comments;
DROP FUNCTION comments_keep_count();
DROP TABLE posts;
DROP TABLE items;
DROP EXTENSION IF EXISTS btree_gin;
