-- Queue an email in the outbox, in the transaction of the change that causes it, with the job
-- that sends it (woken by NOTIFY on commit): one statement, one round trip.
-- Index: email_outbox_pkey; jobs_pkey.
-- name: insert_email(id, user_id, template, to_address, payload, job_id, max_attempts)!
WITH queued_email AS (
    INSERT INTO email_outbox (id, user_id, template, to_address, payload)
    VALUES (:id, :user_id, :template, :to_address, :payload::jsonb)
    RETURNING id
),

queued AS (
    INSERT INTO jobs (id, kind, payload, max_attempts)
    SELECT :job_id, 'email.send', jsonb_build_object('email_id', queued_email.id), :max_attempts
    FROM queued_email
    RETURNING kind
)

SELECT pg_notify('app_jobs', queued.kind)
FROM queued;
