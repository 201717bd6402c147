# Two engines started at the same moment on one database: neither fails with "database is
# locked"; each either runs or stops with the one clear line; no run executes twice at once
# (no duplicated metric rows); a third invocation completes what is left.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
"$PYTHON" - "$SPECS/toy_slow.json" >"$TMP/slow.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["components"]["noise"]["params"]["sleep_ms"] = 100
json.dump(spec, sys.stdout)
PY
for trial in 1 2 3 4 5; do
  db="$TMP/t$trial.db"
  "$ENGINE" run "$TMP/slow.json" --plugin-dir "$GOOD" --db "$db" 2>"$TMP/a$trial.err" >/dev/null & a=$!
  "$ENGINE" run "$TMP/slow.json" --plugin-dir "$GOOD" --db "$db" 2>"$TMP/b$trial.err" >/dev/null & b=$!
  ra=0 rb=0
  wait $a || ra=$?
  wait $b || rb=$?
  for side in a b; do
    err="$TMP/$side$trial.err"
    ! grep -q "database is locked" "$err" || { cat "$err"; fail "trial $trial: engine $side: database is locked"; }
  done
  for pair in "a $ra" "b $rb"; do
    set -- $pair
    if [[ $2 -ne 0 ]]; then
      grep -q "is being executed by another featjnd-engine process" "$TMP/$1$trial.err" ||
        { cat "$TMP/$1$trial.err"; fail "trial $trial: engine $1 exited $2 without saying why"; }
    fi
  done
  [[ $ra -eq 0 || $rb -eq 0 ]] || { cat "$TMP/a$trial.err" "$TMP/b$trial.err"; fail "trial $trial: both engines stopped"; }
  "$ENGINE" run "$TMP/slow.json" --plugin-dir "$GOOD" --db "$db" 2>/dev/null >/dev/null || fail "trial $trial: the resume failed"
  [[ $(sql "$db" "SELECT COUNT(*) FROM runs WHERE status='finished'") == 17 ]] || fail "trial $trial: not every run finished"
  dup=$(sql "$db" "SELECT COUNT(*) FROM (SELECT run_id, key, step FROM metrics GROUP BY run_id, key, step HAVING COUNT(*) > 1)")
  [[ $dup == 0 ]] || fail "trial $trial: $dup metric rows written twice (a run executed by both engines)"
  echo "trial $trial: engines exited $ra and $rb"
done
echo "concurrent engines: ok"
