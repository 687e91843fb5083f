-- The value rules of the tables every change writes (payments, refunds, jobs, outbox, audit_log,
-- commands) move from table CHECK constraints to domains, with the same rules (run 18 in
-- docs/benchmarks.md).
--
-- Why: PostgreSQL checks every CHECK constraint of a table on every row an UPDATE or INSERT
-- writes, and reloads each constraint's expression from its stored text (parse, plan, compile) at
-- every statement. A payment's change, which assigns its status and a few references, paid for all
-- nine rules of `payments`, about a tenth of the statement. A domain's rule is checked when a value
-- is assigned to the column, so an UPDATE checks only the columns it sets, and its expression is
-- planned once per connection (the type cache). Values read back are plain `text` and `bigint` to
-- clients (PostgreSQL describes a domain column by its base type), and a text or bigint parameter
-- is accepted where the rule holds.
--
-- Operating it: changing a column's type rewrites its table and rebuilds its indexes under an
-- exclusive lock, so run it before the tables grow or in a maintenance window, and `ANALYZE` the
-- six tables after it (a rewrite drops their statistics). Restart running instances after it (and
-- after its down migration): the statements they have prepared describe the old column types,
-- and PostgreSQL refuses them with 0A000 ("cached plan must not change result type") until their
-- connections are replaced.
CREATE DOMAIN bnpl_payment_id AS TEXT CHECK (VALUE ~ '^[A-Za-z0-9._-]{1,40}$');
CREATE DOMAIN bnpl_refund_id AS TEXT CHECK (VALUE ~ '^[A-Za-z0-9._-]{1,40}$');
CREATE DOMAIN bnpl_provider AS TEXT CHECK (VALUE IN ('humm', 'valu'));
CREATE DOMAIN bnpl_positive_minor AS BIGINT CHECK (VALUE > 0);
CREATE DOMAIN bnpl_minor AS BIGINT CHECK (VALUE >= 0);
CREATE DOMAIN bnpl_traceparent AS TEXT CHECK (octet_length(VALUE) <= 55);
CREATE DOMAIN bnpl_payment_flow AS TEXT CHECK (VALUE IN ('gate', 'payment_page', 'api'));
CREATE DOMAIN bnpl_payment_status AS TEXT CHECK (VALUE IN ('accepted', 'pending', 'action_required',
    'needs_review', 'succeeded', 'declined', 'failed', 'expired'));
CREATE DOMAIN bnpl_payment_origin AS TEXT CHECK (VALUE IN ('orchestrator', 'external'));
CREATE DOMAIN bnpl_refund_status AS TEXT CHECK (VALUE IN ('queued', 'in_flight', 'succeeded',
    'declined', 'failed', 'cancelled', 'needs_review'));
CREATE DOMAIN bnpl_job_state AS TEXT CHECK (VALUE IN ('scheduled', 'running', 'done', 'exhausted', 'cancelled'));
CREATE DOMAIN bnpl_audit_kind AS TEXT CHECK (VALUE IN ('transition', 'callback', 'provider_call',
    'resolution', 'command', 'note'));
CREATE DOMAIN bnpl_command_outcome AS TEXT CHECK (VALUE IN ('applied', 'duplicate', 'rejected', 'dead_lettered'));

ALTER TABLE payments
    DROP CONSTRAINT payments_payment_id_check,
    DROP CONSTRAINT payments_provider_check,
    DROP CONSTRAINT payments_flow_check,
    DROP CONSTRAINT payments_amount_minor_check,
    DROP CONSTRAINT payments_down_payment_minor_check,
    DROP CONSTRAINT payments_status_check,
    DROP CONSTRAINT payments_refunded_minor_check,
    DROP CONSTRAINT payments_traceparent_check,
    DROP CONSTRAINT payments_origin_check,
    ALTER COLUMN payment_id TYPE bnpl_payment_id,
    ALTER COLUMN provider TYPE bnpl_provider,
    ALTER COLUMN flow TYPE bnpl_payment_flow,
    ALTER COLUMN amount_minor TYPE bnpl_positive_minor,
    ALTER COLUMN down_payment_minor TYPE bnpl_minor,
    ALTER COLUMN status TYPE bnpl_payment_status,
    ALTER COLUMN refunded_minor TYPE bnpl_minor,
    ALTER COLUMN traceparent TYPE bnpl_traceparent,
    ALTER COLUMN origin TYPE bnpl_payment_origin;

ALTER TABLE refunds
    DROP CONSTRAINT refunds_refund_id_check,
    DROP CONSTRAINT refunds_amount_minor_check,
    DROP CONSTRAINT refunds_status_check,
    DROP CONSTRAINT refunds_traceparent_check,
    ALTER COLUMN refund_id TYPE bnpl_refund_id,
    ALTER COLUMN amount_minor TYPE bnpl_positive_minor,
    ALTER COLUMN status TYPE bnpl_refund_status,
    ALTER COLUMN traceparent TYPE bnpl_traceparent;

ALTER TABLE jobs DROP CONSTRAINT jobs_state_check, ALTER COLUMN state TYPE bnpl_job_state;
ALTER TABLE outbox DROP CONSTRAINT outbox_traceparent_check, ALTER COLUMN traceparent TYPE bnpl_traceparent;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_kind_check, ALTER COLUMN kind TYPE bnpl_audit_kind;
ALTER TABLE commands DROP CONSTRAINT commands_outcome_check, ALTER COLUMN outcome TYPE bnpl_command_outcome;
