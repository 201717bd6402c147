# A run that aborts its worker fails alone: the sweep goes on and the exit code says so.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
"$PYTHON" - "$SPECS/toy_sweep.json" >"$TMP/crash.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["name"] = "toy-crash"
spec["components"]["noise"]["params"] = {"abort_if_sigma": 3.0}
json.dump(spec, sys.stdout)
PY
DB="$TMP/crash.db"
rc=0
"$ENGINE" run "$TMP/crash.json" --plugin-dir "$GOOD" --db "$DB" 2>"$TMP/log" || rc=$?
[[ $rc -eq 1 ]] || { cat "$TMP/log"; fail "exit $rc, expected 1"; }
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='failed'") == 3 ]] || fail "expected the 3 sigma=3 runs failed"
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='finished'") == 12 ]] || fail "the other 12 runs did not finish"
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='failed' AND signal=6 AND error LIKE '%signal 6%'") == 3 ]] ||
  fail "the failures do not record SIGABRT"
grep -q "runs failed" "$TMP/log" || fail "no summary of the failure"
"$ENGINE" status "$DB" | grep -q "signal 6" || fail "status does not list the failure"
echo "crash isolation: ok"
