-- Whether a live account with this email address already belongs to the organization.
-- Index: users_email_lower_key, then org_members_pkey.
-- name: is_member_by_email(org_id, email)$
SELECT exists(
    SELECT 1
    FROM users AS u
    JOIN org_members AS m ON m.user_id = u.id AND m.org_id = :org_id
    WHERE lower(u.email) = lower(:email) AND u.deleted_at IS NULL
);
