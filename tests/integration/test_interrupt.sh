# Ctrl-C (SIGINT) stops cleanly: running runs are marked killed, exit 130, and a rerun completes.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
SPEC="$SPECS/toy_slow.json"
DB="$TMP/int.db"
"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$DB" 2>"$TMP/log1" &
pid=$!
for _ in $(seq 1 600); do
  [[ -e "$DB" ]] && n=$(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='finished' AND stage='eval-noise'" 2>/dev/null || echo 0) || n=0
  [[ ${n:-0} -ge 2 ]] && break
  sleep 0.1
done
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc -eq 130 ]] || { cat "$TMP/log1"; fail "exit $rc after SIGINT, expected 130"; }
grep -q "interrupted; run the same command again to resume" "$TMP/log1" || fail "no resume hint"
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='killed'") -ge 1 ]] || fail "no run marked killed"
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='running'") == 0 ]] || fail "runs left 'running'"
[[ $(sql "$DB" "SELECT exit_status FROM invocations") == 130 ]] || fail "invocation not closed"
"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$DB" 2>/dev/null || fail "rerun after interrupt failed"
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='finished'") == 17 ]] || fail "rerun did not finish everything"
echo "interrupt: ok"
