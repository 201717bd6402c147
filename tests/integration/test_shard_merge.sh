# --shard i/N on separate databases, merged, equals the unsharded run.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
SPEC="$SPECS/toy_sweep.json"
for i in 0 1 2; do
  "$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$TMP/shard$i.db" --shard "$i/3" 2>/dev/null || fail "shard $i failed"
done
"$ENGINE" merge "$TMP/merged.db" "$TMP/shard0.db" "$TMP/shard1.db" "$TMP/shard2.db" 2>"$TMP/merge.log"
"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$TMP/full.db" 2>/dev/null
"$ENGINE" export "$TMP/merged.db" --format json -o "$TMP/merged.json"
"$ENGINE" export "$TMP/full.db" --format json -o "$TMP/full.json"
/usr/bin/python3 "$SOURCE_DIR/tests/integration/compare_runs.py" "$TMP/merged.json" "$TMP/full.json" \
  || fail "the merged database differs from the unsharded run"
[[ $(sql "$TMP/merged.db" "SELECT COUNT(*) FROM experiments") == 1 ]] || fail "experiments duplicated"
[[ $(sql "$TMP/merged.db" "SELECT COUNT(*) FROM invocations") == 3 ]] || fail "invocations lost"
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
