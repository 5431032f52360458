-- Undo 0001_accounts: drop the account tables in dependency order.
DROP TABLE email_outbox;
DROP TABLE email_tokens;
DROP TABLE refresh_tokens;
DROP TABLE auth_sessions;
DROP TABLE users;
