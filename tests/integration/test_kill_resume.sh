# kill -9 of the engine mid-sweep, then the same command again: every run exactly once.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
SPEC="$SPECS/toy_slow.json"
DB="$TMP/slow.db"

"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$DB" 2>"$TMP/log1" &
pid=$!
for _ in $(seq 1 600); do
  [[ -e "$DB" ]] && n=$(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='finished'" 2>/dev/null || echo 0) || n=0
  [[ ${n:-0} -ge 5 ]] && break
  sleep 0.1
done
[[ ${n:-0} -ge 5 ]] || fail "the sweep did not make progress"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
sleep 1
# The worker dies with the engine.
if pgrep -f "featjnd-engine worker --device cpu --db $DB" >/dev/null; then fail "a worker outlived the engine"; fi
finished_before=$(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='finished'")
[[ $finished_before -lt 17 ]] || fail "the sweep finished before the kill; nothing to resume"
"$ENGINE" query "$DB" "SELECT id, end_time FROM runs WHERE status='finished' ORDER BY id" --format csv >"$TMP/before.csv"

"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$DB" 2>"$TMP/log2" || { cat "$TMP/log2"; fail "resume failed"; }
grep -q "$finished_before of 17 runs already finished" "$TMP/log2" || { cat "$TMP/log2"; fail "resume did not skip the finished runs"; }
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs") == 17 ]] || fail "runs were duplicated or lost"
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='finished'") == 17 ]] || fail "not every run finished"
[[ $(sql "$DB" "SELECT COUNT(*) FROM (SELECT run_id FROM metrics WHERE key='top1' GROUP BY run_id HAVING COUNT(*) = 1)") == 16 ]] ||
  fail "an evaluation has no or several top1 rows"
[[ $(sql "$DB" "SELECT COUNT(*) FROM (SELECT run_id, key, step FROM metrics GROUP BY run_id, key, step HAVING COUNT(*) > 1)") == 0 ]] ||
  fail "duplicated metric rows"
# Runs finished before the kill were not redone.
"$ENGINE" query "$DB" "SELECT id, end_time FROM runs WHERE id IN (SELECT id FROM runs) ORDER BY id" --format csv >"$TMP/after.csv"
while IFS= read -r line; do grep -qxF "$line" "$TMP/after.csv" || fail "finished run redone: $line"; done < <(tail -n +2 "$TMP/before.csv")
[[ $(sql "$DB" "SELECT COUNT(*) FROM invocations") == 2 ]] || fail "expected two invocations"
echo "kill and resume: ok"
