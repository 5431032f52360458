-- Record domain events (one per payload) in the transaction of the change that caused them,
-- and, if any enabled endpoint of the org subscribes to this type, queue one fan-out job per
-- event (woken by NOTIFY on commit). One statement. Index: domain_events_pkey for the new rows;
-- webhook_endpoints_pkey (org_id leads) for the org's few endpoints.
-- name: insert_domain_events(org_id, event_type, ids, payloads, job_ids, max_attempts)!
WITH recorded AS (
    INSERT INTO domain_events (org_id, id, event_type, payload)
    SELECT :org_id, e.id, :event_type, e.payload
    FROM unnest(:ids::uuid [], :payloads::jsonb []) AS e (id, payload)
    RETURNING org_id, id
),

subscribed AS (
    SELECT exists(
        SELECT 1
        FROM webhook_endpoints AS w
        WHERE w.org_id = :org_id AND w.enabled
            AND (:event_type = any(w.event_types) OR '*' = any(w.event_types))
    ) AS yes
),

queued AS (
    INSERT INTO jobs (id, kind, payload, max_attempts)
    SELECT
        j.job_id, 'webhooks.fan_out', jsonb_build_object('org_id', r.org_id, 'event_id', r.id), :max_attempts
    FROM recorded AS r
    JOIN unnest(:ids::uuid [], :job_ids::uuid []) AS j (id, job_id) ON j.id = r.id
    CROSS JOIN subscribed
    WHERE subscribed.yes
    RETURNING kind
)

SELECT pg_notify('app_jobs', 'webhooks.fan_out') AS woken
-- Whether any job was queued: any one row will do, so the LIMIT needs no ORDER BY.
FROM (SELECT 1 FROM queued LIMIT 1) AS any_queued; -- noqa: AM09
