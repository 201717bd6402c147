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
python3 - "$TMP/merged.json" "$TMP/full.json" <<'PY'
import json, math, sys
def load(p):
    return {r["config_hash"]: r for r in json.load(open(p))}
merged, full = load(sys.argv[1]), load(sys.argv[2])
assert set(merged) == set(full), (len(merged), len(full))
for h, a in full.items():
    b = merged[h]
    for k in ("stage", "label", "status", "params"):
        assert a[k] == b[k], (k, a[k], b[k])
    assert set(a["metrics"]) == set(b["metrics"]), (a["metrics"].keys(), b["metrics"].keys())
    for k, v in a["metrics"].items():
        assert math.isclose(v, b["metrics"][k], rel_tol=1e-6, abs_tol=1e-9), (h, k, v, b["metrics"][k])
print("merged equals unsharded:", len(full), "runs")
PY
[[ $(sql "$TMP/merged.db" "SELECT COUNT(*) FROM experiments") == 1 ]] || fail "experiments duplicated"
[[ $(sql "$TMP/merged.db" "SELECT COUNT(*) FROM invocations") == 3 ]] || fail "invocations lost"
expect_error "exists; merge writes a new database" "$ENGINE" merge "$TMP/merged.db" "$TMP/shard0.db"
expect_error "does not exist" "$ENGINE" merge "$TMP/new.db" "$TMP/nothing.db"
[[ ! -e "$TMP/new.db" && ! -e "$TMP/new.db.partial" ]] || fail "a failed merge left a file"
echo "shard and merge: ok"
