#!/usr/bin/env bash
# The pgbench lab behind run 13 in docs/benchmarks.md: the ledger's change statement with and
# without its pg_notify, and the relay's mark with and without synchronous_commit. Needs a
# database `scratch` with the migrations applied:
#   createdb -h 127.0.0.1 -U postgres scratch
#   for f in migrations/*.up.sql; do psql -h 127.0.0.1 -U postgres -d scratch -q -f "$f"; done
# (the marks update outbox row 1: insert one row first). Run from this folder.
set -euo pipefail
# The same statement without its NOTIFY, and nothing else changed.
sed "s/(SELECT count(CAST(pg_notify('bnpl_outbox', '') AS text)) FROM updated)/1/" full.sql > no_notify.sql
psql -h 127.0.0.1 -U postgres -d scratch -q -f setup.sql
for round in 1 2 3; do
  for script in full no_notify; do
    echo -n "$script: "
    pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 8 -j 2 -T 6 -f "$script.sql" scratch 2>&1 | grep '^tps'
  done
done
for script in sync async; do
  echo -n "mark, $script: "
  pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 1 -t 300 -f "$script.sql" scratch 2>&1 | grep 'latency average'
done
