-- Provider accounts an operator paused, or whose circuit breaker opened (contract §4, added
-- 2026-11-29). No row: active. Every process reads this table, so a pause or an open circuit holds
-- for all of them.
CREATE TABLE account_states (
    account_key TEXT PRIMARY KEY,          -- provider:account, as refund queues name it
    provider    TEXT NOT NULL CHECK (provider IN ('humm', 'valu')),
    account     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('active', 'paused', 'open', 'half_open')),
    reason      TEXT,
    changed_by  TEXT NOT NULL,
    since       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The account a job calls, so the jobs of a paused or open account are simply not claimed: they
-- keep their attempts and their due time, and run when it is active again.
ALTER TABLE jobs ADD COLUMN account_key TEXT;
UPDATE jobs j SET account_key = p.provider || ':' || p.account FROM payments p WHERE p.payment_id = j.payment_id;
CREATE INDEX jobs_account_idx ON jobs (account_key) WHERE state IN ('scheduled', 'running');
