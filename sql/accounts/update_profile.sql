-- Partial profile update: each field changes only when its set_* flag is true, so PATCH can
-- tell "absent" from "null" in static SQL. Index: users_pkey.
-- name: update_profile(id, set_display_name, display_name, set_bio, bio, set_avatar_url, avatar_url, set_locale, locale)^
UPDATE users
SET
    display_name = CASE WHEN :set_display_name THEN :display_name ELSE display_name END,
    bio = CASE WHEN :set_bio THEN :bio ELSE bio END,
    avatar_url = CASE WHEN :set_avatar_url THEN :avatar_url ELSE avatar_url END,
    locale = CASE WHEN :set_locale THEN :locale ELSE locale END,
    updated_at = now()
WHERE id = :id AND deleted_at IS NULL AND is_active
RETURNING
    id, email, username, display_name, bio, avatar_url, locale,
    email_verified_at IS NOT NULL AS email_verified, created_at, updated_at;
