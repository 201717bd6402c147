# SIGKILL at random (seeded) times, KILLS of each kind (default 20): of the engine, of a worker, of
# the whole process group, and of the engine during the prepare stage; then the same command again
# until the sweep is done. Every kill must land: its target alive and dying of SIGKILL (an engine
# that finished first fails the test), and every kind must have redone runs. Every run exactly
# once, metrics and artifacts equal to an uninterrupted run's, PRAGMA integrity_check ok. A failure
# prints the seed and the kill that preceded it.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
KILLS=${KILLS:-20}
SEED=${SEED:-20261130}
RANDOM=$SEED
echo "random kills: $KILLS per kind, seed $SEED"
# The toy sweep with evaluations of 150 ms (36 of them) and a longer training run (the prepare stage).
# Each kill waits until the new engine has a run of its own running (start_time after its start),
# then a random delay.
"$PYTHON" - "$SPECS/toy_sweep.json" >"$TMP/spec.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["name"] = "toy-kills"
spec["components"]["task"]["params"].update({"epochs": 150, "samples": 1024})
spec["components"]["noise"]["params"] = {"sleep_ms": 150}
spec["sweep"]["noise"] = {"sigma": [0.05, 0.5, 1.0, 3.0], "seed": [0, 1, 2, 3, 4, 5, 6, 7, 8]}
json.dump(spec, sys.stdout)
PY
run() { "$ENGINE" run "$TMP/spec.json" --plugin-dir "$GOOD" --db "$1" >/dev/null 2>>"$TMP/$(basename "$1" .db).log"; }
run "$TMP/ref.db" || fail "the uninterrupted run failed"
total=$(sql "$TMP/ref.db" "SELECT COUNT(*) FROM runs")
"$ENGINE" export "$TMP/ref.db" --format json -o "$TMP/ref.json"
artifacts() { "$ENGINE" query "$1" "SELECT r.config_hash, a.name, a.sha256, a.bytes FROM artifacts a JOIN runs r ON r.id = a.run_id ORDER BY 1, 2" --format csv; }
artifacts "$TMP/ref.db" >"$TMP/ref.artifacts.csv"
[[ $(wc -l <"$TMP/ref.artifacts.csv") -gt 1 ]] || fail "the reference run has no artifacts to compare"

ms_sleep() { sleep "$(printf '0.%03d' "$1")"; }
state() { sqlite3 -cmd ".timeout 2000" "file:$1?mode=ro" "$2" 2>/dev/null || true; }
wait_for() {  # DB SQL: until the query prints a non-empty, non-zero value (at most 20 s)
  for _ in $(seq 400); do
    local v
    v=$(state "$1" "$2")
    [[ -n $v && $v != 0 ]] && return 0
    sleep 0.05
  done
  return 1
}

verify() {  # DB KIND: finish the sweep, then compare with the reference
  local db=$1 kind=$2
  run "$db" || run "$db" || { tail -5 "$TMP/$(basename "$db" .db).log"; fail "$kind: the resume did not finish (seed $SEED)"; }
  [[ $(sql "$db" "SELECT COUNT(*) FROM runs WHERE status='finished'") == "$total" ]] || fail "$kind: not every run finished"
  [[ $(sql "$db" "PRAGMA integrity_check") == ok ]] || fail "$kind: integrity_check failed"
  [[ $(sql "$db" "SELECT COUNT(*) FROM (SELECT run_id, key, step FROM metrics GROUP BY run_id, key, step HAVING COUNT(*) > 1)") == 0 ]] ||
    fail "$kind: metric rows written twice"
  "$ENGINE" export "$db" --format json -o "$TMP/$kind.json"
  "$PYTHON" "$SOURCE_DIR/tests/integration/compare_runs.py" "$TMP/$kind.json" "$TMP/ref.json" >/dev/null ||
    fail "$kind: the results differ from the uninterrupted run (seed $SEED)"
  artifacts "$db" | diff -q - "$TMP/ref.artifacts.csv" >/dev/null || fail "$kind: the artifacts differ from the uninterrupted run"
  local redone
  redone=$(sql "$db" "SELECT SUM(attempt) - COUNT(*) FROM runs")
  [[ $redone -ge 1 ]] || fail "$kind: no run was redone: the kills did not interrupt any run"
  echo "$kind: $(sql "$db" "SELECT COUNT(*) FROM invocations") invocations, $redone runs redone; equal to the uninterrupted run"
}

# kill_landed PID WHAT KIND K: SIGKILL the target, which must be alive, and check that it died of it.
kill_landed() {
  local pid=$1 what=$2 kind=$3 k=$4 rc=0
  kill -9 $what 2>/dev/null || fail "$kind: kill $k found its target gone (the engine had finished; seed $SEED)"
  wait "$pid" 2>/dev/null || rc=$?
  [[ $rc -eq 137 ]] || fail "$kind: after kill $k the engine exited with $rc, not by SIGKILL (137; seed $SEED)"
}
# Whether enough runs are left for another kill to interrupt one (an engine about to finish would
# exit before a random delay ends).
runs_left() { [[ $(( total - $(state "$1" "SELECT COUNT(*) FROM runs WHERE status='finished'") )) -ge 8 ]]; }

# 1. The engine, at a random moment of the sweep (its workers die with it).
for k in $(seq "$KILLS"); do
  [[ ! -e $TMP/engine.db ]] || runs_left "$TMP/engine.db" || break
  t0=$(date +%s.%N)
  "$ENGINE" run "$TMP/spec.json" --plugin-dir "$GOOD" --db "$TMP/engine.db" >/dev/null 2>>"$TMP/engine.log" & pid=$!
  wait_for "$TMP/engine.db" "SELECT COUNT(*) FROM runs WHERE status='running' AND start_time > $t0" ||
    fail "engine: no run started after kill $((k - 1))"
  ms_sleep $((RANDOM % 900))
  kill_landed "$pid" "$pid" engine "$k"
done
verify "$TMP/engine.db" engine

# 2. The whole process group (engine and workers at once).
for k in $(seq "$KILLS"); do
  [[ ! -e $TMP/group.db ]] || runs_left "$TMP/group.db" || break
  t0=$(date +%s.%N)
  setsid "$ENGINE" run "$TMP/spec.json" --plugin-dir "$GOOD" --db "$TMP/group.db" >/dev/null 2>>"$TMP/group.log" & pid=$!
  wait_for "$TMP/group.db" "SELECT COUNT(*) FROM runs WHERE status='running' AND start_time > $t0" ||
    fail "group: no run started after kill $((k - 1))"
  ms_sleep $((RANDOM % 900))
  kill_landed "$pid" "-- -$pid" group "$k"
done
verify "$TMP/group.db" group

# 3. The engine while the prepare stage trains.
for k in $(seq "$KILLS"); do
  t0=$(date +%s.%N)
  "$ENGINE" run "$TMP/spec.json" --plugin-dir "$GOOD" --db "$TMP/prepare.db" >/dev/null 2>>"$TMP/prepare.log" & pid=$!
  wait_for "$TMP/prepare.db" "SELECT COUNT(*) FROM runs WHERE status='running' AND stage='prepare' AND start_time > $t0" ||
    fail "prepare: the prepare stage did not start (kill $k)"
  ms_sleep $((RANDOM % 300))
  kill_landed "$pid" "$pid" prepare "$k"
done
[[ $(sql "$TMP/prepare.db" "SELECT COUNT(*) FROM runs WHERE stage='prepare' AND status='finished'") == 0 ]] ||
  fail "prepare: the prepare stage finished before one of the kills (they were to land while it trains)"
verify "$TMP/prepare.db" prepare

# 4. Workers, one after another within one engine invocation: each kill fails the run it was
# executing; the engine starts a new worker and goes on; the next invocation redoes the failures.
"$ENGINE" run "$TMP/spec.json" --plugin-dir "$GOOD" --db "$TMP/worker.db" >/dev/null 2>>"$TMP/worker.log" & pid=$!
killed=0
for _ in $(seq 2000); do
  [[ $killed -ge $KILLS ]] && break
  kill -0 "$pid" 2>/dev/null || break
  w=$(state "$TMP/worker.db" "SELECT pid FROM runs WHERE status='running' AND stage='eval-noise' LIMIT 1")
  if [[ -n $w ]]; then
    ms_sleep $((RANDOM % 120))
    kill -9 "$w" 2>/dev/null && killed=$((killed + 1))
    # until that run is marked failed (or another takes its place)
    for _ in $(seq 100); do [[ $(state "$TMP/worker.db" "SELECT pid FROM runs WHERE status='running' AND stage='eval-noise' LIMIT 1") != "$w" ]] && break; sleep 0.02; done
  else
    sleep 0.02
  fi
done
wait "$pid" 2>/dev/null || true
[[ $killed -ge $KILLS ]] || fail "worker: only $killed workers were killed during runs (the sweep ended first)"
# Every kill landed on a run: each such attempt was recorded failed with signal 9 (the next
# invocation redoes them, counting attempts).
[[ $(sql "$TMP/worker.db" "SELECT COUNT(*) FROM runs WHERE signal=9") -ge 1 ]] || fail "worker: no run records SIGKILL"
[[ $(sql "$TMP/worker.db" "SELECT COUNT(*) FROM runs WHERE status='failed' AND signal=9") -eq $killed ]] ||
  fail "worker: $killed workers killed, but $(sql "$TMP/worker.db" "SELECT COUNT(*) FROM runs WHERE status='failed' AND signal=9") runs failed by SIGKILL"
verify "$TMP/worker.db" worker
echo "random kills: ok"
