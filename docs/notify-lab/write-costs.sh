#!/usr/bin/env bash
# What one change costs PostgreSQL against the bare code's write (run 14 in docs/benchmarks.md):
# a single-row UPDATE, the ledger's change statement (without its NOTIFY, as the busy writers run
# it now), and eight such changes in one transaction (group commit). Run 15 added one UNNEST
# statement writing one change (unnest1.sql) and eight (unnest8.sql). Same setup as run.sh (a
# database `scratch` with the migrations applied). Run from this folder.
set -euo pipefail
# The change statement as the busy writers send it: no NOTIFY; the job really completes.
sed -e "s/(SELECT count(CAST(pg_notify('bnpl_outbox', '') AS text)) FROM updated)/1/" \
    -e "s/completed AS (UPDATE jobs SET updated_at = now()/completed AS (UPDATE jobs SET state = 'done', lease_token = NULL, updated_at = now()/" \
    full.sql > change.sql
{
  for k in 0 1 2 3 4 5 6 7; do echo "\\set id$k random(1, 100000)"; done
  echo "BEGIN;"
  for k in 0 1 2 3 4 5 6 7; do tail -n +2 change.sql | sed "s/:id/:id$k/g"; done
  echo "COMMIT;"
} > change8.sql
printf '%s\n' '\set id random(1, 100000)' 'UPDATE jobs SET available_at = now() WHERE id = :id;' > bare_update.sql
for round in 1 2; do
  for script in bare_update change change8 unnest1 unnest8; do
    psql -h 127.0.0.1 -U postgres -d scratch -q -f setup.sql 2>/dev/null
    echo -n "$script: "
    pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 8 -j 2 -T 5 -f "$script.sql" scratch 2>&1 | grep '^tps'
  done
done
echo "(change8, unnest8: each transaction is eight changes)"
