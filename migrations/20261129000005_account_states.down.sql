DROP INDEX jobs_account_idx;
ALTER TABLE jobs DROP COLUMN account_key;
DROP TABLE account_states;
