-- Mark the account verified, only if the token's address is still the account's address.
-- Index: users_pkey (or users_email_lower_key: both are unique, the planner may use either).
-- name: mark_email_verified(id, email)$
UPDATE users
SET email_verified_at = coalesce(email_verified_at, now()), updated_at = now()
WHERE id = :id AND lower(email) = lower(:email) AND deleted_at IS NULL AND is_active
RETURNING id;
