-- Back to table CHECK constraints with the same rules (the constraint names the earlier
-- migrations gave them).
ALTER TABLE commands ALTER COLUMN outcome TYPE TEXT,
    ADD CONSTRAINT commands_outcome_check CHECK (outcome IN ('applied', 'duplicate', 'rejected', 'dead_lettered'));
ALTER TABLE audit_log ALTER COLUMN kind TYPE TEXT,
    ADD CONSTRAINT audit_log_kind_check CHECK (kind IN ('transition', 'callback', 'provider_call',
        'resolution', 'command', 'note'));
ALTER TABLE outbox ALTER COLUMN traceparent TYPE TEXT,
    ADD CONSTRAINT outbox_traceparent_check CHECK (octet_length(traceparent) <= 55);
ALTER TABLE jobs ALTER COLUMN state TYPE TEXT,
    ADD CONSTRAINT jobs_state_check CHECK (state IN ('scheduled', 'running', 'done', 'exhausted', 'cancelled'));

ALTER TABLE refunds
    ALTER COLUMN refund_id TYPE TEXT,
    ALTER COLUMN amount_minor TYPE BIGINT,
    ALTER COLUMN status TYPE TEXT,
    ALTER COLUMN traceparent TYPE TEXT,
    ADD CONSTRAINT refunds_refund_id_check CHECK (refund_id ~ '^[A-Za-z0-9._-]{1,40}$'),
    ADD CONSTRAINT refunds_amount_minor_check CHECK (amount_minor > 0),
    ADD CONSTRAINT refunds_status_check CHECK (status IN ('queued', 'in_flight', 'succeeded',
        'declined', 'failed', 'cancelled', 'needs_review')),
    ADD CONSTRAINT refunds_traceparent_check CHECK (octet_length(traceparent) <= 55);

ALTER TABLE payments
    ALTER COLUMN payment_id TYPE TEXT,
    ALTER COLUMN provider TYPE TEXT,
    ALTER COLUMN flow TYPE TEXT,
    ALTER COLUMN amount_minor TYPE BIGINT,
    ALTER COLUMN down_payment_minor TYPE BIGINT,
    ALTER COLUMN status TYPE TEXT,
    ALTER COLUMN refunded_minor TYPE BIGINT,
    ALTER COLUMN traceparent TYPE TEXT,
    ALTER COLUMN origin TYPE TEXT,
    ADD CONSTRAINT payments_payment_id_check CHECK (payment_id ~ '^[A-Za-z0-9._-]{1,40}$'),
    ADD CONSTRAINT payments_provider_check CHECK (provider IN ('humm', 'valu')),
    ADD CONSTRAINT payments_flow_check CHECK (flow IN ('gate', 'payment_page', 'api')),
    ADD CONSTRAINT payments_amount_minor_check CHECK (amount_minor > 0),
    ADD CONSTRAINT payments_down_payment_minor_check CHECK (down_payment_minor >= 0),
    ADD CONSTRAINT payments_status_check CHECK (status IN ('accepted', 'pending', 'action_required',
        'needs_review', 'succeeded', 'declined', 'failed', 'expired')),
    ADD CONSTRAINT payments_refunded_minor_check CHECK (refunded_minor >= 0),
    ADD CONSTRAINT payments_traceparent_check CHECK (octet_length(traceparent) <= 55),
    ADD CONSTRAINT payments_origin_check CHECK (origin IN ('orchestrator', 'external'));

DROP DOMAIN bnpl_command_outcome, bnpl_audit_kind, bnpl_job_state, bnpl_refund_status,
    bnpl_payment_origin, bnpl_payment_status, bnpl_payment_flow, bnpl_traceparent, bnpl_minor,
    bnpl_positive_minor, bnpl_provider, bnpl_refund_id, bnpl_payment_id;
