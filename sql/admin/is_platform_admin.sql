-- Whether a user holds a platform-admin grant (checked on every /admin request; there are few).
-- Index: platform_admins_pkey.
-- name: is_platform_admin(user_id)$
SELECT exists(SELECT 1 FROM platform_admins WHERE user_id = :user_id) AS is_admin;
