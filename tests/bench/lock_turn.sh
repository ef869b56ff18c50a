#!/usr/bin/env bash
# Where the assignment lock's turn goes under load: a benchmark helper, not
# a test (docs/benchmarks.md, "Issue 14: the lock turn, step by step").
#
#   tests/bench/lock_turn.sh instrument MIGRATIONS_DIR OUT_DIR
#       copies MIGRATIONS_DIR to OUT_DIR and adds one migration that restates
#       the newest `public.ingest_leads` and `engine.ingest_batch` with a
#       `raise log 'T <epoch> <step>'` line before each step (nothing else
#       changes). Fails, naming the step, if a step's line is not found
#       exactly once (a later migration reworded it: update STEPS below).
#   tests/bench/lock_turn.sh report POSTGRES_LOG [BATCHES]
#       reads those lines from the log of a run and prints, over the last
#       BATCHES batches (default 75, about a 10,000-lead timed run), the
#       median and mean of each step under the lock (a step runs from its
#       line to the next step's: `insert_leads` is the lead insert with its
#       indexes and triggers, `done` the return to `ingest_leads`), the
#       handoff (from the function's return to the next batch's lock:
#       PostgREST's answer and COMMIT, the WAL flush, the next backend
#       waking) and the turn; and the same for the slowest turn of those,
#       to see which step a tail comes from.
#
# A run:
#   tests/bench/lock_turn.sh instrument supabase/migrations /tmp/lock-turn
#   LOADGEN_PG_LOG=slow target/release/examples/loadgen --migrations \
#     /tmp/lock-turn/migrations --leads 10000 --senders 256 --modes a
#   tests/bench/lock_turn.sh report /tmp/bloc-loadgen-*/db/postgres.log
set -euo pipefail

# function|step|a line that starts the step, as a grep -F pattern (unique in the function)
STEPS='
public.ingest_leads|start|  select pg_catalog.array_agg(engine.lead_payload_error(t.item) order by t.ord),
public.ingest_leads|validated|  -- The keys of engine.lock_phone
public.ingest_leads|phone_locked|  work := problems;
public.ingest_leads|looked_up|    perform engine.lock_assignments();
public.ingest_leads|locked|    -- The backlog first, oldest first
public.ingest_leads|drained|  select * into team from public.settings s where s.id;
public.ingest_leads|returned|  if not keyed then
engine.ingest_batch|clock|  -- The clock, once per item in item order
engine.ingest_batch|stored_callers|  -- The caller of each stored lead found
engine.ingest_batch|callers|  select coalesce(pg_catalog.array_agg(c.id order by c.id), '"'"'{}'"'"'),
engine.ingest_batch|kinds|  if m > 0 then
engine.ingest_batch|decide|  targets := pg_catalog.array_fill(null::bigint, array[total]);
engine.ingest_batch|insert_leads|  -- The new leads in one insert.
engine.ingest_batch|duplicates|  select pg_catalog.array_agg(case when t.target > 0 then t.target
engine.ingest_batch|insert_logs|  -- The log rows, in decision order
engine.ingest_batch|loads|  -- The loads: one upsert per caller and day.
engine.ingest_batch|last_assigned|  -- callers.last_assigned_at, once per caller
engine.ingest_batch|answers|  select pg_catalog.jsonb_agg(
engine.ingest_batch|done|  return answers;
'
# The steps under the lock, in order, for the report (each ends where the next starts).
UNDER_LOCK='locked drained clock stored_callers callers kinds decide insert_leads duplicates insert_logs loads last_assigned answers done returned'

newest_definition() { # MIGRATIONS_DIR FUNCTION: the last `create or replace function FUNCTION(` … `$$;` block
  local found=''
  for file in "$1"/*.sql; do
    block=$(awk -v head="create or replace function $2(" 'index($0, head) == 1 { on = 1 } on { print } on && $0 == "$$;" { exit }' "$file")
    [ -n "$block" ] && found=$block
  done
  [ -n "$found" ] || { echo "lock_turn.sh: no definition of $2 in $1" >&2; exit 1; }
  printf '%s\n' "$found"
}

instrument() { # FUNCTION: its newest definition with a marker before each step's line
  local text=$1 function=$2 step pattern count
  while IFS='|' read -r f step pattern; do
    [ "$f" = "$function" ] || continue
    count=$(printf '%s\n' "$text" | grep -cxF -- "$pattern" || true)
    [ "$count" = 1 ] || count=$(printf '%s\n' "$text" | grep -cF -- "$pattern" || true)
    [ "$count" = 1 ] || { echo "lock_turn.sh: step $step of $function: its line is found $count times: $pattern" >&2; exit 1; }
    text=$(printf '%s\n' "$text" | awk -v p="$pattern" -v s="$step" \
      'index($0, p) == 1 && !done { print "  raise log '"'"'T % " s "'"'"', extract(epoch from pg_catalog.clock_timestamp());"; done = 1 } { print }')
  done <<< "$STEPS"
  printf '%s\n' "$text"
}

case "${1:-}" in
  instrument)
    [ $# = 3 ] || { echo "usage: $0 instrument MIGRATIONS_DIR OUT_DIR" >&2; exit 2; }
    batch=$(newest_definition "$2" engine.ingest_batch)
    leads=$(newest_definition "$2" public.ingest_leads)
    markers=$(
      echo "-- lock_turn.sh: the ingest functions with a log line before each step (a benchmark only)."
      instrument "$batch" engine.ingest_batch
      echo
      instrument "$leads" public.ingest_leads
    )
    rm -rf "$3" && mkdir -p "$3/migrations" && cp "$2"/*.sql "$3/migrations/"
    printf '%s\n' "$markers" > "$3/migrations/29991231000000_lock_turn_markers.sql"
    echo "$3/migrations"
    ;;
  report)
    [ $# -ge 2 ] || { echo "usage: $0 report POSTGRES_LOG [BATCHES]" >&2; exit 2; }
    grep -F 'LOG:  T ' "$2" | sed -E 's/.*\[([0-9]+)\] LOG:  T ([0-9.]+) ([a-z_]+).*/\1 \2 \3/' |
      awk -v last="${3:-75}" -v steps="$UNDER_LOCK" '
        function median(list, n,   i, j, t, v) {
          n = split(list, v, " ")
          for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
          return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        # One batch per backend from "start" to "returned"; batches sorted by when they took the lock.
        $3 == "start" { delete open[$1]; open[$1] = 1 }
        ($1 in open) { at[$1, $3] = $2 }
        $3 == "returned" && ($1 in open) && (($1, "locked") in at) {
          b = ++batches; lock[b] = at[$1, "locked"]
          for (k in at) { split(k, key, SUBSEP); if (key[1] == $1) { t[b, key[2]] = at[k]; delete at[k] } }
          delete open[$1]
        }
        # Row r of batch b (whose lock c took next): steps 1 .. n-1, then the
        # handoff, the turn and the part before the lock.
        function measure(b, c, out,   s) {
          for (s = 1; s < n; s++) out[s] = (t[b, step[s + 1]] - t[b, step[s]]) * 1000
          out[n] = (lock[c] - t[b, "returned"]) * 1000
          out[n + 1] = (lock[c] - lock[b]) * 1000
          out[n + 2] = (t[b, "looked_up"] - t[b, "start"]) * 1000
        }
        function mean(list,   m, v, k, sum) {
          m = split(list, v, " ")
          for (k = 1; k <= m; k++) sum += v[k]
          return sum / m
        }
        END {
          if (batches < 2) {
            print "lock_turn.sh: fewer than two instrumented batches in the log (run loadgen on the migrations `instrument` wrote)" > "/dev/stderr"
            exit 1
          }
          n = split(steps, step, " ")
          for (s = 1; s < n; s++) label[s] = step[s]
          label[n] = "handoff: returned → next batch locked"
          label[n + 1] = "**turn**: locked → next batch locked"
          label[n + 2] = "before the lock: start → looked_up (overlaps the turn before)"
          for (i = 1; i <= batches; i++) order[i] = i
          for (i = 2; i <= batches; i++) { x = order[i]; for (j = i - 1; j >= 1 && lock[order[j]] > lock[x]; j--) order[j + 1] = order[j]; order[j + 1] = x }
          first = batches - last; if (first < 1) first = 1
          for (i = first; i < batches; i++) {
            measure(order[i], order[i + 1], row)
            for (r = 1; r <= n + 2; r++) column[r] = column[r] " " row[r]
            if (row[n + 1] > slowest_turn) { slowest_turn = row[n + 1]; slowest = i }
            count++
          }
          measure(order[slowest], order[slowest + 1], worst)
          printf "%d batches\n| step | median ms | mean ms | slowest turn ms |\n|---|---:|---:|---:|\n", count
          for (r = 1; r <= n + 2; r++) printf "| %s | %.2f | %.2f | %.2f |\n", label[r], median(column[r]), mean(column[r]), worst[r]
        }'
    ;;
  *) echo "usage: $0 instrument MIGRATIONS_DIR OUT_DIR | report POSTGRES_LOG [BATCHES]" >&2; exit 2 ;;
esac
