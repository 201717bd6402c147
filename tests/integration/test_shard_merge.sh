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
echo "shard and merge: ok"
