#!/usr/bin/env bash
# What each row of a change costs PostgreSQL (run 17 in docs/benchmarks.md): the ledger's change
# statement as the busy writers send it (change.sql, made by write-costs.sh), then the same
# statement without the callback's row, without the audit row, without the outbox row, and with
# none of the three (the payment's update alone). Eight changes per transaction, as a group-
# committed batch writes them; changes per second. Same setup as run.sh (a database `scratch`
# with the migrations applied). Run from this folder, after write-costs.sh.
set -euo pipefail
python3 - <<'PY'
s = open('change.sql').read()
def drop(sql, name):
    """The statement without its CTE `name` (and the comma before it)."""
    start = sql.index(' ' + name + ' AS (')
    depth, end = 0, sql.index('(', start)
    while True:
        depth += {'(': 1, ')': -1}.get(sql[end], 0)
        if depth == 0:
            break
        end += 1
    return sql[:sql.rfind(',', 0, start)] + sql[end + 1:]
variants = {
    'no_stored': drop(s, 'stored'),
    'no_audit': drop(s, 'audited'),
    'no_outbox': drop(s, 'announced'),
    'only_update': drop(drop(drop(s, 'stored'), 'audited'), 'announced'),
}
for name, sql in variants.items():
    open(name + '.sql', 'w').write(sql)
PY
for script in change no_stored no_audit no_outbox only_update; do
  {
    for k in 0 1 2 3 4 5 6 7; do echo "\\set id$k random(1, 100000)"; done
    echo "BEGIN;"
    for k in 0 1 2 3 4 5 6 7; do tail -n +2 "$script.sql" | sed "s/:id/:id$k/g"; done
    echo "COMMIT;"
  } > "${script}8.sql"
done
for round in 1 2; do
  for script in change8 no_stored8 no_audit8 no_outbox8 only_update8; do
    psql -h 127.0.0.1 -U postgres -d scratch -q -f setup.sql >/dev/null 2>&1
    echo -n "$script: "
    pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 8 -j 2 -T 5 -f "$script.sql" scratch 2>&1 |
      awk '/^tps/ { printf "%.0f changes/s\n", $3 * 8 }'
  done
done
