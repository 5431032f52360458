-- Record that the mail server accepted the email. Index: email_outbox_pkey.
-- name: mark_email_sent(id)!
UPDATE email_outbox
SET sent_at = now()
WHERE id = :id AND sent_at IS NULL;
