# Numerical parity of the resnet plugin with torchvision (Debian's python3-torchvision): weights
# exported by tools/export_weights.py, loaded by name, outputs compared at both splits and the logits.
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 "$SOURCE_DIR/tests/parity/torchvision_resnet_reference.py" "$TMP/parity" >/dev/null ||
  fail "cannot write the torchvision references (is python3-torchvision installed? tools/install_deps.sh installs it)"
FEATJND_PARITY_DIR="$TMP/parity" "$BUILD_DIR/tests/featjnd-plugin-tests" --test-case='resnet matches torchvision*' --success >"$TMP/out" 2>&1 ||
  { cat "$TMP/out"; fail "resnet differs from torchvision"; }
grep -Eq "test cases: +1 \| +1 passed" "$TMP/out" || { cat "$TMP/out"; fail "the parity test case did not run"; }
[[ $(grep -c "SUCCESS: CHECK( rel(" "$TMP/out") -eq 12 ]] || { cat "$TMP/out"; fail "expected 12 comparisons"; }
echo "torchvision parity: ok"
