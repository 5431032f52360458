-- How many owners an organization has. Run after lock_org, so the answer holds until commit.
-- Index: org_members_pkey (the org's members are one contiguous range of it).
-- name: count_owners(org_id)$
SELECT count(*)
FROM org_members
WHERE org_id = :org_id AND role = 'owner';
