-- How many owners an organization has. Run after lock_org, so the answer holds until commit.
-- Index: org_members_owners_idx (partial: owners only).
-- name: count_owners(org_id)$
SELECT count(*)
FROM org_members
WHERE org_id = :org_id AND role = 'owner';
