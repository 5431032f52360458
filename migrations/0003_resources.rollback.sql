-- Undo 0003_resources: drop comments (with their count trigger), posts and items.
DROP TABLE comments;
DROP FUNCTION comments_keep_count();
DROP TABLE posts;
DROP TABLE items;
