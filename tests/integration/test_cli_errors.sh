# Bad input: one clear line per problem, a non-zero exit, nothing written.
source "$(dirname "$0")/lib.sh"
cd "$TMP"

python3 - "$SPECS/toy_sweep.json" >"$TMP/bad.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["colour"] = "red"
spec["sweep"]["noise"]["sigma"] = [0.1, 0.2, 0.3, -1]
spec["components"]["backbone"]["plugin"] = "resnt"
json.dump(spec, sys.stdout)
PY
rc=0
"$ENGINE" run "$TMP/bad.json" --plugin-dir "$GOOD" --db "$TMP/bad.db" 2>"$TMP/err" || rc=$?
[[ $rc -eq 1 ]] || fail "invalid spec: exit $rc, expected 1"
grep -qF "bad.json:/colour: unknown key" "$TMP/err" || fail "no line for /colour"
grep -qF "bad.json:/sweep/noise/sigma/3: -1 is not a number in [0, 1000]" "$TMP/err" || fail "no line for the sweep value"
grep -qF "bad.json:/components/backbone/plugin: unknown backbone plugin 'resnt'" "$TMP/err" || fail "no line for the plugin"
[[ $(wc -l <"$TMP/err") -eq 3 ]] || { cat "$TMP/err"; fail "expected exactly 3 lines"; }
[[ ! -e "$TMP/bad.db" && ! -e "$TMP/results" ]] || fail "a database was written for an invalid spec"

expect_error "cannot open experiment spec" "$ENGINE" run "$TMP/missing.json" --plugin-dir "$GOOD"
expect_error "broken_json.json:line 3 column" "$ENGINE" run "$SPECS/broken_json.json" --plugin-dir "$GOOD"
expect_error "--shard '3/2': expected i/N" "$ENGINE" run "$SPECS/toy_sweep.json" --plugin-dir "$GOOD" --shard 3/2
expect_error "--devices: 'gpu' is not a device" "$ENGINE" run "$SPECS/toy_sweep.json" --plugin-dir "$GOOD" --devices gpu
expect_error "device cuda:7 is not available" "$ENGINE" run "$SPECS/toy_sweep.json" --plugin-dir "$GOOD" --devices cuda:7 --db "$TMP/c.db"
[[ ! -e "$TMP/c.db" ]] || fail "a database was written although the device is missing"
expect_error "unknown command 'rnu'" "$ENGINE" rnu
expect_error "unrecognised option '--bogus'" "$ENGINE" run "$SPECS/toy_sweep.json" --bogus
expect_error "database '$TMP/none.db' does not exist" "$ENGINE" status "$TMP/none.db"

"$ENGINE" --help | grep -q "merge OUT" || fail "--help lacks merge"
"$ENGINE" run --help | grep -q -- "--shard" || fail "run --help lacks --shard"
"$ENGINE" --version | grep -q "plugin API 3" || fail "--version lacks the plugin API"
echo "cli errors: ok"
