# Scale-out without a cluster: --shard i/N is a partition (every run in exactly one shard, the
# dry runs say so), a shard executes only its own runs, phases run in order with each shard
# starting from the previous phase's merged database (--base), and the merged result equals the
# unsharded run — with every run executed exactly once (the toy plugins log each execution).
source "$(dirname "$0")/lib.sh"
cd "$TMP"
SPEC="$SPECS/toy_networks.json"
for i in 0 1 2; do
  "$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --shard "$i/3" --dry-run | tail -n +2 | awk '{print $3}'
done | sort >"$TMP/listed"
"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --dry-run | tail -n +2 | awk '{print $3}' | sort >"$TMP/all"
[[ $(wc -l <"$TMP/all") -eq 26 ]] && cmp -s "$TMP/listed" "$TMP/all" ||
  fail "the dry runs of shards 0-2/3 do not list every run exactly once"
# A shard whose upstream runs are not in its database is refused in one line, writing nothing.
expect_error "upstream runs are not finished" "$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --shard 1/3 --phase 2 --db "$TMP/early.db"
[[ $(wc -l <"$TMP/err") -eq 1 && ! -e "$TMP/early.db" ]] || fail "the refused shard wrote something or said more than a line"

export FEATJND_TEST_EXECUTIONS=$TMP/executions
for p in 0 1 2; do
  base=() inputs=()
  ((p > 0)) && base=(--base "$TMP/phase$((p - 1)).db") inputs=("$TMP/phase$((p - 1)).db")
  for i in 0 1 2; do
    "$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --shard "$i/3" --phase $p --db "$TMP/p$p-shard$i.db" "${base[@]}" 2>"$TMP/log" ||
      { cat "$TMP/log"; fail "phase $p shard $i failed"; }
    inputs+=("$TMP/p$p-shard$i.db")
  done
  "$ENGINE" merge "$TMP/phase$p.db" "${inputs[@]}" 2>"$TMP/merge.log" || { cat "$TMP/merge.log"; fail "merge of phase $p"; }
done
unset FEATJND_TEST_EXECUTIONS
[[ $(wc -l <"$TMP/executions") -eq 26 ]] || { sort "$TMP/executions" | uniq -c; fail "expected 26 executions, one per run"; }
[[ -z $(sort "$TMP/executions" | uniq -d) ]] || { sort "$TMP/executions" | uniq -d; fail "a run executed twice"; }
"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$TMP/full.db" 2>/dev/null
"$ENGINE" export "$TMP/phase2.db" --format json -o "$TMP/merged.json"
"$ENGINE" export "$TMP/full.db" --format json -o "$TMP/full.json"
"$PYTHON" "$SOURCE_DIR/tests/integration/compare_runs.py" "$TMP/merged.json" "$TMP/full.json" \
  || fail "the merged database differs from the unsharded run"
[[ $(sql "$TMP/phase2.db" "SELECT COUNT(*) FROM experiments") == 1 ]] || fail "experiments duplicated"
[[ $(sql "$TMP/phase2.db" "SELECT COUNT(*) FROM invocations") == 9 ]] || fail "expected the 9 shards' invocations, once each"
# Each evaluation names the fit it used: its dependency is that fit's row, one per fit.
[[ $(sql "$TMP/phase2.db" "SELECT COUNT(DISTINCT d.dep_run_id) FROM run_deps d JOIN runs r ON r.id = d.run_id
     WHERE r.stage = 'eval-fit'") == 4 ]] || fail "the evaluations do not depend on the 4 fits"
[[ $(sql "$TMP/phase2.db" "SELECT COUNT(*) FROM run_deps d JOIN runs r ON r.id = d.run_id JOIN runs f ON f.id = d.dep_run_id
     WHERE r.stage = 'eval-fit' AND json_extract(r.config_json, '$.inputs[0]') != f.config_hash") == 0 ]] ||
  fail "an evaluation points at another fit than the one its configuration names"
# The last phase's shards merged without the phase-1 database: each carries it (--base), so the
# result is the same.
cp "$TMP/p2-shard0.db" "$TMP/shard0.db"; cp "$TMP/p2-shard1.db" "$TMP/shard1.db"; cp "$TMP/p2-shard2.db" "$TMP/shard2.db"
"$ENGINE" merge "$TMP/merged.db" "$TMP/shard0.db" "$TMP/shard1.db" "$TMP/shard2.db" 2>/dev/null || fail "merging the last shards"
"$ENGINE" export "$TMP/merged.db" --format json -o "$TMP/merged2.json"
"$PYTHON" "$SOURCE_DIR/tests/integration/compare_runs.py" "$TMP/merged2.json" "$TMP/full.json" >/dev/null ||
  fail "the last phase's shards, merged, differ from the unsharded run"
expect_error "exists; merge writes a new database" "$ENGINE" merge "$TMP/merged.db" "$TMP/shard0.db"
expect_error "does not exist" "$ENGINE" merge "$TMP/new.db" "$TMP/nothing.db"
[[ ! -e "$TMP/new.db" && ! -e "$TMP/new.db.partial" ]] || fail "a failed merge left a file"
# Every input is checked before the first row is copied, and a failed merge leaves nothing.
nothing_left() { [[ ! -e "$TMP/$1.db" && ! -e "$TMP/$1.db.partial" && ! -e "$TMP/$1.db.partial-wal" ]] || fail "$2 left a file"; }
cp "$TMP/shard1.db" "$TMP/dangling.db"
sqlite3 "$TMP/dangling.db" "PRAGMA foreign_keys=OFF; INSERT INTO run_deps(run_id, dep_run_id) SELECT MIN(id), 99999 FROM runs"
expect_error "dangling.db' is inconsistent: row" "$ENGINE" merge "$TMP/m1.db" "$TMP/shard0.db" "$TMP/dangling.db"
nothing_left m1 "a dangling dependency"
cp "$TMP/shard2.db" "$TMP/damaged.db"
sqlite3 "$TMP/damaged.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
pages=$(( $(stat -c %s "$TMP/damaged.db") / 4096 ))
dd if=/dev/zero of="$TMP/damaged.db" bs=4096 seek=$((pages / 2)) count=2 conv=notrunc status=none
expect_error "damaged.db' is damaged" "$ENGINE" merge "$TMP/m2.db" "$TMP/shard0.db" "$TMP/damaged.db"
nothing_left m2 "a damaged input"
sqlite3 "$TMP/app.db" "CREATE TABLE customers(id INTEGER PRIMARY KEY)"
expect_error "belongs to another application" "$ENGINE" merge "$TMP/m3.db" "$TMP/shard0.db" "$TMP/app.db"
nothing_left m3 "another application's file"
# A write that fails halfway (a file-size limit): the partial output is removed.
rc=0
(ulimit -f 64; exec "$ENGINE" merge "$TMP/m4.db" "$TMP/shard0.db" "$TMP/shard1.db" "$TMP/shard2.db") 2>"$TMP/err" || rc=$?
[[ $rc -ne 0 ]] || fail "the merge under ulimit -f 64 succeeded; the test needs a larger database"
grep -q "failed" "$TMP/err" || { cat "$TMP/err"; fail "no line about the failed write"; }
nothing_left m4 "a failed write"
echo "shard and merge: ok"
