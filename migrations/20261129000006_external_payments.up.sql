-- Payments made outside the orchestrator (a payment link in the provider's dashboard), adopted
-- from a verified callback of an account that opted in (issue 20, contract §7). Their state comes
-- only from status queries.
ALTER TABLE payments ADD COLUMN origin TEXT NOT NULL DEFAULT 'orchestrator'
    CHECK (origin IN ('orchestrator', 'external'));
