-- Undo 0006_idempotency_keys: stored responses are dropped; retries after this run again.

DROP TABLE idempotency_keys;
