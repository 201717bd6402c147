# Numerical parity of the paper's plugins with the libraries users trust, at full size: the
# references are written here by tools/make_parity_fixtures.py with the project's torchvision,
# timm and Captum (ResNet-18/50, Swin-T/S/B, PVTv2-b1/b2/b3 at 224, maskrcnn_resnet50_fpn at
# 800x1216, mmdetection's Swin/PVTv2 + FPN arrangement, RoIAlign, Integrated Gradients, the weights'
# evaluation transforms on real JPEGs), then the C++ cases of tests/plugin_units/test_parity.cpp
# compare every stage, level, output and image.
source "$(dirname "$0")/lib.sh"
"$PYTHON" "$SOURCE_DIR/tools/make_parity_fixtures.py" "$TMP/parity" >"$TMP/fixtures.log" 2>&1 ||
  { cat "$TMP/fixtures.log"; fail "cannot write the references with $PYTHON (tools/install_deps.sh installs torchvision, timm and captum in .venv)"; }
FEATJND_PARITY_DIR="$TMP/parity" "$BUILD_DIR/tests/featjnd-plugin-tests" --test-suite=parity >"$TMP/out" 2>&1 ||
  { cat "$TMP/out"; fail "a plugin differs from its reference"; }
grep -Eq "test cases: +8 \\| +8 passed" "$TMP/out" || { cat "$TMP/out"; fail "not every parity test case ran"; }
n=$(grep -c "^parity " "$TMP/out")
# resnet 2 x (2 splits x 3 + 4 stages) = 20; swin 3 x 6 = 18; pvt_v2 3 x 5 = 15; maskrcnn 4 + 5 + 5 = 14;
# FPN arrangements 2 x 9 = 18; RoIAlign 4; Integrated Gradients 2 x its cases; one per preprocessed image.
count() { "$PYTHON" -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$1"; }
expected=$((20 + 18 + 15 + 14 + 18 + 4 + 2 * $(count "$TMP/parity/ig_cases.json") + $(count "$TMP/parity/preprocess_cases.json")))
[[ $n -eq $expected ]] || { cat "$TMP/out"; fail "expected $expected comparisons, saw $n"; }
echo "parity: $n comparisons against $(cat "$TMP/parity/versions.json")"
grep "^parity " "$TMP/out" | grep -v " preprocess " | sort -t: -k2 -g | tail -3 | sed 's/^/  largest: /'
grep "^preprocess: worst" "$TMP/out"
