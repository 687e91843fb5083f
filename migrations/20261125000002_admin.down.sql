DROP INDEX IF EXISTS payments_personal_data_idx;
DROP INDEX IF EXISTS commands_received_idx;
ALTER TABLE dead_letters DROP COLUMN IF EXISTS body_purged_at;
ALTER TABLE commands DROP COLUMN IF EXISTS body_purged_at;
DROP TABLE IF EXISTS admin_sessions;
DROP TABLE IF EXISTS admin_tokens;
