# Numerical parity of the backbone plugins with torchvision (Debian's python3-torchvision) and, through
# the shared fixture, timm: references written by tools/make_parity_fixtures.py, weights loaded by
# name, every stage, the split points, the logits and the FPN levels compared.
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 "$SOURCE_DIR/tools/make_parity_fixtures.py" "$TMP/parity" --pvt-fixture "$SOURCE_DIR/tests/fixtures/pvt_v2" >/dev/null ||
  fail "cannot write the torchvision references (is python3-torchvision installed? tools/install_deps.sh installs it)"
FEATJND_PARITY_DIR="$TMP/parity" "$BUILD_DIR/tests/featjnd-plugin-tests" --test-suite=parity --success >"$TMP/out" 2>&1 ||
  { cat "$TMP/out"; fail "a backbone differs from its reference"; }
grep -Eq "test cases: +8 \\| +8 passed" "$TMP/out" || { cat "$TMP/out"; fail "not every parity test case ran"; }
n=$(grep -c "SUCCESS: CHECK( rel(" "$TMP/out")
expected=70  # 50 against torchvision, 5 for the PVTv2 FPN over the timm fixture (tests/fixtures/pvt_v2),
             # 4 RoIAlign, 11 Integrated Gradients (5 methods x attributions and deltas, a second baseline)
[[ $n -eq $expected ]] || { cat "$TMP/out"; fail "expected $expected comparisons, saw $n"; }
grep -q "SUCCESS: CHECK( ours == theirs )" "$TMP/out" || { cat "$TMP/out"; fail "the Swin key sets were not compared"; }
echo "parity: $n comparisons within 1e-5"
