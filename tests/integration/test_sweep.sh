# A full sweep through the real engine: dry run, run, skip on rerun, crash isolation, reading back.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
SPEC="$SPECS/toy_sweep.json"
DB="$TMP/toy.db"

out=$("$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --dry-run)
contains "$out" "15 runs (1 prepare, 2 fit, 12 evaluate)"
contains "$out" "fitted.alpha=0.5"
contains "$out" "after #"
[[ ! -e results ]] || fail "--dry-run wrote something"

"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$DB" 2>"$TMP/log1" || { cat "$TMP/log1"; fail "the sweep failed"; }
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='finished'") == 15 ]] || fail "not all 15 runs finished"

# The toy classifier was really trained, and heavy noise really hurts it.
clean=$(sql "$DB" "SELECT MIN(value) FROM metrics WHERE key='clean.top1'")
"$PYTHON" -c "import sys; assert float('$clean') > 0.85, 'clean top1 $clean'"
noisy=$(sql "$DB" "SELECT AVG(m.value) FROM metrics m JOIN params p ON p.run_id=m.run_id WHERE m.key='top1' AND p.key='noise.sigma' AND p.value=3.0")
"$PYTHON" -c "assert float('$noisy') < float('$clean') - 0.1, ('$noisy', '$clean')"
[[ $(sql "$DB" "SELECT COUNT(DISTINCT step) FROM metrics WHERE key='fit.loss'") == 15 ]] || fail "fit loss curve missing"
[[ $(sql "$DB" "SELECT COUNT(*) FROM artifacts WHERE name='toy-fit.pt'") == 2 ]] || fail "fit artifacts missing"
[[ $(sql "$DB" "SELECT COUNT(*) FROM artifacts WHERE name='task-network'") == 1 ]] || fail "checkpoint missing"
art=$(sql "$DB" "SELECT path FROM artifacts WHERE name='task-network'")
[[ -f "$TMP/$art" ]] || fail "artifact file $art missing"
# Provenance beside every run.
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs r JOIN invocations i ON i.id=r.invocation_id WHERE i.spec_hash != '' AND i.torch_version != ''") == 15 ]] || fail "provenance missing"
[[ $(sql "$DB" "SELECT COUNT(*) FROM plugin_versions WHERE length(file_sha256)=64") == 4 ]] || fail "plugin hashes missing"
# Same seed, same numbers: kept to compare with a second, fresh run below.
ONE_RUN="SELECT m.value FROM metrics m JOIN params a ON a.run_id=m.run_id JOIN params b ON b.run_id=m.run_id WHERE a.key='noise.sigma' AND a.value=0.05 AND b.key='noise.seed' AND b.value=1 AND m.key='nrmse'"
m1=$(sql "$DB" "$ONE_RUN")
[[ -n "$m1" ]] || fail "no nrmse for sigma=0.05 seed=1"

# Rerun: everything is skipped by hash, nothing is added.
before=$(sql "$DB" "SELECT COUNT(*) FROM metrics")
"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$DB" 2>"$TMP/log2"
grep -q "15 of 15 runs already finished" "$TMP/log2" || { cat "$TMP/log2"; fail "rerun did not skip"; }
[[ $(sql "$DB" "SELECT COUNT(*) FROM metrics") == "$before" ]] || fail "rerun added metrics"

# A fresh database with the same spec gives the same numbers (seeded).
"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$TMP/again.db" 2>/dev/null
m2=$(sql "$TMP/again.db" "$ONE_RUN")
[[ "$m1" == "$m2" ]] || fail "same seed gave $m1 then $m2"

# Reading back.
status=$("$ENGINE" status "$DB")
contains "$status" "eval-noise"
contains "$status" "experiment toy-sweep"
[[ $("$ENGINE" export "$DB" --format csv | wc -l) -eq 16 ]] || fail "csv export is not 15 runs + header"
"$ENGINE" export "$DB" --format json -o "$TMP/runs.json"
"$PYTHON" - "$TMP/runs.json" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))
assert len(runs) == 15
ev = [r for r in runs if r["stage"] == "eval-fit"]
assert all("top1" in r["metrics"] and "nrmse" in r["metrics"] for r in ev)
assert all("fitted.alpha" in r["params"] for r in ev)
fit = [r for r in runs if r["stage"] == "fit"]
assert all(len(r["series"]["fit.loss"]) == 15 for r in fit)
PY
out=$("$ENGINE" query "$DB" "SELECT stage, COUNT(*) AS n FROM runs GROUP BY stage ORDER BY stage" --format json)
contains "$out" '"n": 6'
expect_error "read-only" "$ENGINE" query "$DB" "DELETE FROM runs"
expect_error "read-only" "$ENGINE" query "$DB" "UPDATE runs SET status='queued'"
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs") == 15 ]] || fail "a refused query changed the database"
expect_error "no such table" "$ENGINE" query "$DB" "SELECT * FROM nosuchtable"
echo "sweep: ok"
