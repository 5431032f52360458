-- Queue an email in the outbox, in the transaction of the change that causes it.
-- Index: email_outbox_pkey.
-- name: insert_email(id, user_id, template, to_address, payload)!
INSERT INTO email_outbox (id, user_id, template, to_address, payload)
VALUES (:id, :user_id, :template, :to_address, :payload::jsonb);
