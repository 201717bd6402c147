# Install the engine, build the README's minimal plugin against the installed CMake package, load it.
source "$(dirname "$0")/lib.sh"
: "${BUILD_DIR:?}"
cmake --install "$BUILD_DIR" --prefix "$TMP/prefix" >/dev/null
cmake -S "$SOURCE_DIR/tests/out_of_tree_plugin" -B "$TMP/build" -DCMAKE_BUILD_TYPE=Release \
  -Dfeatjnd_DIR="$TMP/prefix/lib/cmake/featjnd" >"$TMP/configure.log" 2>&1 || { cat "$TMP/configure.log"; fail "configure"; }
cmake --build "$TMP/build" >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log"; fail "build"; }
ENGINE="$TMP/prefix/bin/featjnd-engine"
out=$("$ENGINE" plugins --plugin-dir "$TMP/build")
contains "$out" "scale"
contains "$out" "multiplies every feature level"
# The paper's plugins were installed beside the engine and are found there.
contains "$out" "Swin Transformer"

# And it runs in a sweep beside the toy plugins.
"$PYTHON" - "$SPECS/toy_slow.json" >"$TMP/scale.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["name"] = "scale"
spec["components"]["noise"] = {"plugin": "scale"}
spec["sweep"] = {"noise": {"factor": [1.0, 0.0]}}
json.dump(spec, sys.stdout)
PY
"$ENGINE" run "$TMP/scale.json" --plugin-dir "$GOOD" --plugin-dir "$TMP/build" --db "$TMP/scale.db" 2>"$TMP/run.log" ||
  { cat "$TMP/run.log"; fail "the sweep with the out-of-tree plugin failed"; }
# factor 1 leaves the features unchanged, factor 0 zeroes them: NRMSE 0 and 1.
nrmse() { sql "$TMP/scale.db" "SELECT m.value FROM metrics m JOIN params p ON p.run_id=m.run_id WHERE m.key='nrmse' AND p.key='noise.factor' AND p.value=$1"; }
"$PYTHON" -c "import math; assert float('$(nrmse 1.0)') == 0.0 and math.isclose(float('$(nrmse 0.0)'), 1.0, rel_tol=1e-9)" ||
  fail "NRMSE of factor 1 / factor 0 is $(nrmse 1.0) / $(nrmse 0.0), expected 0 / 1"
echo "out-of-tree plugin: ok"
