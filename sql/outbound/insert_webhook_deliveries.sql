-- One delivery per endpoint for an event, each with its delivery job (woken by NOTIFY on
-- commit). A fan-out that runs again (after a lost lease) creates nothing new: the unique
-- (org_id, endpoint_id, event_id) refuses the second delivery, and no job is queued for it.
-- Index: webhook_deliveries_org_id_endpoint_id_event_id_key; jobs_pkey.
-- name: insert_webhook_deliveries(org_id, event_id, event_type, ids, endpoint_ids, job_ids, max_attempts)!
WITH created AS (
    INSERT INTO webhook_deliveries (org_id, id, endpoint_id, event_id, event_type)
    SELECT :org_id, d.id, d.endpoint_id, :event_id, :event_type
    FROM unnest(:ids::uuid [], :endpoint_ids::uuid []) AS d (id, endpoint_id)
    ON CONFLICT (org_id, endpoint_id, event_id) DO NOTHING
    RETURNING id
),

queued AS (
    INSERT INTO jobs (id, kind, payload, max_attempts)
    SELECT
        j.job_id, 'webhooks.deliver', jsonb_build_object('org_id', :org_id::uuid, 'delivery_id', c.id),
        :max_attempts
    FROM created AS c
    JOIN unnest(:ids::uuid [], :job_ids::uuid []) AS j (id, job_id) ON j.id = c.id
    RETURNING id
)

SELECT pg_notify('app_jobs', 'webhooks.deliver') AS woken
-- Whether any job was queued: any one row will do, so the LIMIT needs no ORDER BY.
FROM (SELECT 1 FROM queued LIMIT 1) AS any_queued; -- noqa: AM09
