# Bad input: one clear line per problem, a non-zero exit, nothing written.
source "$(dirname "$0")/lib.sh"
cd "$TMP"

"$PYTHON" - "$SPECS/toy_sweep.json" >"$TMP/bad.json" <<'PY'
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
grep -qF "/sweep/noise/sigma/3: -1 is not a number in [0, 1000]" "$TMP/err" || fail "no line for the sweep value"
grep -qF "/components/backbone/plugin: unknown backbone plugin 'resnt'" "$TMP/err" || fail "no line for the plugin"
[[ $(wc -l <"$TMP/err") -eq 1 ]] || { cat "$TMP/err"; fail "expected the three problems on one line"; }
[[ ! -e "$TMP/bad.db" && ! -e "$TMP/results" ]] || fail "a database was written for an invalid spec"

expect_error "cannot open experiment spec" "$ENGINE" run "$TMP/missing.json" --plugin-dir "$GOOD"
expect_error "broken_json.json:line 3 column" "$ENGINE" run "$SPECS/broken_json.json" --plugin-dir "$GOOD"
expect_error "--shard '3/2': expected i/N" "$ENGINE" run "$SPECS/toy_sweep.json" --plugin-dir "$GOOD" --shard 3/2
expect_error "--devices: 'gpu' is not a device" "$ENGINE" run "$SPECS/toy_sweep.json" --plugin-dir "$GOOD" --devices gpu
expect_error "device cuda:7 is not available" "$ENGINE" run "$SPECS/toy_sweep.json" --plugin-dir "$GOOD" --devices cuda:7 --db "$TMP/c.db"
[[ ! -e "$TMP/c.db" ]] || fail "a database was written although the device is missing"
expect_error "unknown command 'rnu'" "$ENGINE" rnu

# One line however many problems: 2,000 unknown keys give the first three and a count.
"$PYTHON" - "$SPECS/toy_sweep.json" >"$TMP/many.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec.update({f"key{i}": i for i in range(2000)})
json.dump(spec, sys.stdout)
PY
expect_error "and 1997 more problems" "$ENGINE" run "$TMP/many.json" --plugin-dir "$GOOD" --dry-run
[[ $(wc -l <"$TMP/err") -eq 1 ]] || fail "2,000 unknown keys printed $(wc -l <"$TMP/err") lines"
# A stage without keys: one line.
"$PYTHON" - "$SPECS/toy_sweep.json" >"$TMP/stage.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["stages"].append({})
json.dump(spec, sys.stdout)
PY
expect_error "stage.json:/stages/4" "$ENGINE" run "$TMP/stage.json" --plugin-dir "$GOOD" --dry-run
[[ $(wc -l <"$TMP/err") -eq 1 ]] || { cat "$TMP/err"; fail "an empty stage printed several lines"; }
# 100,000 nested arrays: refused before parsing (it was a stack overflow).
"$PYTHON" -c "print('{\"name\": ' + '[' * 100000 + ']' * 100000 + '}')" >"$TMP/deep.json"
expect_error "deep.json: arrays or objects nested deeper than 256 levels at line 1 column 265" \
  "$ENGINE" run "$TMP/deep.json" --plugin-dir "$GOOD" --dry-run
[[ $(wc -l <"$TMP/err") -eq 1 ]] || fail "the deep spec printed several lines"
printf '{"name": 1e999999}' >"$TMP/big.json"
expect_error "big.json: invalid JSON" "$ENGINE" run "$TMP/big.json" --plugin-dir "$GOOD" --dry-run
expect_error "$TMP: is a directory; expected an experiment spec" "$ENGINE" run "$TMP" --plugin-dir "$GOOD"

# Device lists are checked before anything is written.
for devices in "," "cpu," "" "cpu,cpu" "cpu,cpu:0" "cuda:99999999999" "cpu:256"; do
  expect_error "--devices: " "$ENGINE" run "$SPECS/toy_sweep.json" --plugin-dir "$GOOD" --devices "$devices" --db "$TMP/d.db"
  [[ $(wc -l <"$TMP/err") -eq 1 ]] || fail "--devices '$devices': more than one line"
  ! grep -q "stoi" "$TMP/err" || fail "--devices '$devices': $(cat "$TMP/err")"
  [[ ! -e "$TMP/d.db" && ! -e "$TMP/d.artifacts" ]] || fail "--devices '$devices' wrote the database"
done
grep -qF "device 'cpu:0' is listed twice" <("$ENGINE" run "$SPECS/toy_sweep.json" --plugin-dir "$GOOD" --devices cpu,cpu:0 2>&1) ||
  fail "cpu and cpu:0 are one device"
expect_error "unrecognised option '--bogus'" "$ENGINE" run "$SPECS/toy_sweep.json" --bogus
expect_error "database '$TMP/none.db' does not exist" "$ENGINE" status "$TMP/none.db"

"$ENGINE" --help | grep -q "merge OUT" || fail "--help lacks merge"
"$ENGINE" run --help | grep -q -- "--shard" || fail "run --help lacks --shard"
"$ENGINE" --version | grep -q "plugin API 5" || fail "--version lacks the plugin API"

# A parameter its plugin does not use (quant-uniform's seed, eps and floor) is in no run's identity:
# setting it leaves the hashes as they are, and sweeping it is refused (it made identical runs).
QS=$SOURCE_DIR/experiments/quickstart.json
hashes() { "$ENGINE" run "$QS" --dry-run "$@" | grep " eval-quant-uniform " | awk '{print $3}' | sort; }
[[ -n "$(hashes)" && "$(hashes)" == "$(hashes --set '/components/quant-uniform/params={"seed": 5, "floor": 0.2, "eps": 0.01}')" ]] ||
  fail "quant-uniform's unused seed, floor or eps changed a run's identity"
[[ "$(hashes)" != "$(hashes --set '/components/quant-uniform/params={"codec": true}')" ]] || fail "codec, which quant-uniform uses, left the hashes"
expect_error "/sweep/quant-uniform/seed: quant-uniform does not use its parameter seed (it affects no stage); sweeping it would repeat identical runs" \
  "$ENGINE" run "$QS" --dry-run --set '/sweep/quant-uniform/seed=[0, 1]'
# Integrated Gradients with one step: Gauss-Legendre takes it; the Riemann rules need two (as Captum).
expect_error "/stages/7/params/ig_steps: 1 step with riemann_left: the Riemann rules need at least 2" \
  "$ENGINE" run "$QS" --dry-run --set '/stages/7/params={"ig_steps": 1, "ig_method": "riemann_left"}'
"$ENGINE" run "$QS" --dry-run --set '/stages/7/params={"ig_steps": 1}' >/dev/null || fail "ig_steps 1 with gausslegendre refused"
echo "cli errors: ok"
