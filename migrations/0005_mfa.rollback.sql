-- Undo 0005_mfa: drop the two-factor tables (every user's two-factor is off afterwards).

DROP TABLE mfa_challenges;
DROP TABLE mfa_backup_codes;
DROP TABLE user_mfa;
