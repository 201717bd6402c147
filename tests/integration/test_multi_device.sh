# Several devices in one run: two CPU workers (cpu:0, cpu:1) share the cores, both take runs, and
# the results equal a one-device run. A worker killed during its runs fails only those runs; a
# device whose worker dies twice in a row is given up and the rest of the queue moves to the other.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
# Evaluations of 300 ms each, so that the second worker has started before the queue is empty.
"$PYTHON" - "$SPECS/toy_slow.json" 300 >"$TMP/slow300.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["components"]["noise"]["params"]["sleep_ms"] = int(sys.argv[2])
json.dump(spec, sys.stdout)
PY
SPEC="$TMP/slow300.json"
"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$TMP/two.db" --devices cpu:0,cpu:1 2>"$TMP/two.log" ||
  { cat "$TMP/two.log"; fail "the two-device run failed"; }
"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$TMP/one.db" --devices cpu 2>/dev/null
[[ $(sql "$TMP/two.db" "SELECT COUNT(DISTINCT device) FROM runs WHERE status='finished'") == 2 ]] ||
  fail "the runs did not use both devices: $("$ENGINE" query "$TMP/two.db" "SELECT device, COUNT(*) FROM runs GROUP BY device")"
cores=$(nproc)
share=$(( cores / 2 > 0 ? cores / 2 : 1 ))
for d in cpu-0 cpu-1; do
  grep -q "on cpu:${d#cpu-}: $share intra-op threads" "$TMP/two.artifacts/logs/worker-$d.log" ||
    { cat "$TMP/two.artifacts/logs/worker-$d.log"; fail "worker $d does not have its share ($share) of $cores cores"; }
done
"$ENGINE" export "$TMP/two.db" --format json -o "$TMP/two.json"
"$ENGINE" export "$TMP/one.db" --format json -o "$TMP/one.json"
"$PYTHON" "$SOURCE_DIR/tests/integration/compare_runs.py" "$TMP/two.json" "$TMP/one.json" ||
  fail "two devices gave other results than one"

# Kill cpu:1's worker during two runs in a row: those two runs fail (SIGKILL recorded), the device
# is given up, and every other run finishes on cpu:0.
sed 's/"sleep_ms": 300/"sleep_ms": 700/' "$TMP/slow300.json" >"$TMP/slow.json"
"$ENGINE" run "$TMP/slow.json" --plugin-dir "$GOOD" --db "$TMP/kill.db" --devices cpu:0,cpu:1 2>"$TMP/kill.log" &
engine=$!
killed=""
for _ in $(seq 300); do
  # sqlite3 rather than `featjnd-engine query`: polled every 50 ms, while the engine writes.
  pid=$(sqlite3 -cmd ".timeout 2000" "file:$TMP/kill.db?mode=ro" \
        "SELECT pid FROM runs WHERE status='running' AND device='cpu:1' AND stage='eval-noise'" 2>/dev/null || true)
  if [[ -n $pid && " $killed " != *" $pid "* ]]; then
    kill -9 "$pid" 2>/dev/null && killed+=" $pid"
  fi
  [[ $(wc -w <<<"$killed") -ge 2 ]] && break
  sleep 0.05
done
rc=0
wait $engine || rc=$?
[[ $(wc -w <<<"$killed") -eq 2 ]] || { cat "$TMP/kill.log"; fail "could not kill cpu:1's worker twice (killed:$killed)"; }
[[ $rc -eq 1 ]] || { cat "$TMP/kill.log"; fail "exit $rc, expected 1 (two runs failed)"; }
[[ $(sql "$TMP/kill.db" "SELECT COUNT(*) FROM runs WHERE status='failed' AND signal=9 AND device='cpu:1'") == 2 ]] ||
  { "$ENGINE" status "$TMP/kill.db"; fail "expected the two runs of the killed workers failed with SIGKILL"; }
[[ $(sql "$TMP/kill.db" "SELECT COUNT(*) FROM runs WHERE status='finished'") == 15 ]] || fail "the other 15 runs did not finish"
grep -q "cpu:1: its worker died during 2 runs in a row; the remaining runs go to the other devices" "$TMP/kill.log" ||
  { cat "$TMP/kill.log"; fail "the device was not given up"; }
# Resuming redoes exactly the two failed runs.
"$ENGINE" run "$TMP/slow.json" --plugin-dir "$GOOD" --db "$TMP/kill.db" --devices cpu:0,cpu:1 2>"$TMP/resume.log" ||
  { cat "$TMP/resume.log"; fail "the resume failed"; }
grep -q "15 already finished" "$TMP/resume.log" || { cat "$TMP/resume.log"; fail "the resume did not skip the 15 finished runs"; }
echo "multi-device: ok"
