#!/usr/bin/env bash
# What the static CHECK constraints on `payments` cost the ledger's change statement (run 16 in
# docs/benchmarks.md). PostgreSQL re-reads and prepares every CHECK constraint of a table for each
# statement that writes it, even for columns the statement does not set; a domain's constraint is
# checked only where a value is assigned. Alternates the schema as migrated with one where the seven
# single-column checks other than the id's pattern are domains, eight changes per transaction
# (change8.sql, made by write-costs.sh). Same setup as run.sh (a database `scratch` with the
# migrations applied). Run from this folder, after write-costs.sh.
set -euo pipefail
P="psql -h 127.0.0.1 -U postgres -d scratch -q -v ON_ERROR_STOP=1"
to_domains() {
  $P <<'SQL'
ALTER TABLE payments DROP CONSTRAINT payments_provider_check, DROP CONSTRAINT payments_flow_check,
  DROP CONSTRAINT payments_amount_minor_check, DROP CONSTRAINT payments_down_payment_minor_check,
  DROP CONSTRAINT payments_origin_check, DROP CONSTRAINT payments_refunded_minor_check,
  DROP CONSTRAINT payments_status_check;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'lab_provider') THEN
    CREATE DOMAIN lab_provider AS text CHECK (VALUE IN ('humm', 'valu'));
    CREATE DOMAIN lab_flow AS text CHECK (VALUE IN ('gate', 'payment_page', 'api'));
    CREATE DOMAIN lab_positive AS bigint CHECK (VALUE > 0);
    CREATE DOMAIN lab_nonneg AS bigint CHECK (VALUE >= 0);
    CREATE DOMAIN lab_origin AS text CHECK (VALUE IN ('orchestrator', 'external'));
    CREATE DOMAIN lab_status AS text CHECK (VALUE IN ('accepted', 'pending', 'action_required',
      'needs_review', 'succeeded', 'declined', 'failed', 'expired'));
  END IF;
END $$;
ALTER TABLE payments ALTER COLUMN provider TYPE lab_provider, ALTER COLUMN flow TYPE lab_flow,
  ALTER COLUMN amount_minor TYPE lab_positive, ALTER COLUMN down_payment_minor TYPE lab_nonneg,
  ALTER COLUMN origin TYPE lab_origin, ALTER COLUMN refunded_minor TYPE lab_nonneg,
  ALTER COLUMN status TYPE lab_status;
SQL
}
to_checks() {
  $P <<'SQL'
ALTER TABLE payments ALTER COLUMN provider TYPE text, ALTER COLUMN flow TYPE text,
  ALTER COLUMN amount_minor TYPE bigint, ALTER COLUMN down_payment_minor TYPE bigint,
  ALTER COLUMN origin TYPE text, ALTER COLUMN refunded_minor TYPE bigint, ALTER COLUMN status TYPE text;
ALTER TABLE payments
  ADD CONSTRAINT payments_provider_check CHECK (provider IN ('humm', 'valu')),
  ADD CONSTRAINT payments_flow_check CHECK (flow IN ('gate', 'payment_page', 'api')),
  ADD CONSTRAINT payments_amount_minor_check CHECK (amount_minor > 0),
  ADD CONSTRAINT payments_down_payment_minor_check CHECK (down_payment_minor >= 0),
  ADD CONSTRAINT payments_origin_check CHECK (origin IN ('orchestrator', 'external')),
  ADD CONSTRAINT payments_refunded_minor_check CHECK (refunded_minor >= 0),
  ADD CONSTRAINT payments_status_check CHECK (status IN ('accepted', 'pending', 'action_required',
    'needs_review', 'succeeded', 'declined', 'failed', 'expired'));
SQL
}
run() {
  $P -f setup.sql 2>/dev/null
  echo -n "$1: "
  pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 8 -j 2 -T 12 -f change8.sql scratch 2>&1 \
    | awk '/^tps/ { print $3 * 8 " changes/s" }'
}
for round in 1 2 3; do
  run checks
  to_domains
  run domains
  to_checks
done
