-- An email from the outbox that has not been sent yet (none once it has: a job that runs
-- again sends nothing twice). Index: email_outbox_pkey.
-- name: get_unsent_email(id)^
SELECT id, template, to_address, payload
FROM email_outbox
WHERE id = :id AND sent_at IS NULL;
