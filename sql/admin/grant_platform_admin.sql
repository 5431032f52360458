-- Grant platform admin to the live user with this email (case-insensitive); none if no such
-- user. A repeated grant keeps the first one's date and grantor.
-- Index: users_email_lower_key (lower(email), live users); platform_admins_pkey.
-- name: grant_platform_admin(email, granted_by)^
INSERT INTO platform_admins (user_id, granted_by)
SELECT u.id, :granted_by
FROM users AS u
WHERE lower(u.email) = lower(:email) AND u.deleted_at IS NULL
ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id
RETURNING user_id;
