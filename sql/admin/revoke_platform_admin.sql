-- Take platform admin away from the live user with this email (case-insensitive).
-- Index: users_email_lower_key (lower(email), live users); platform_admins_pkey.
-- name: revoke_platform_admin(email)^
DELETE FROM platform_admins AS p
USING users AS u
WHERE p.user_id = u.id AND lower(u.email) = lower(:email) AND u.deleted_at IS NULL
RETURNING p.user_id;
