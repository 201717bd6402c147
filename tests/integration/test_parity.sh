# Numerical parity of the resnet and swin plugins with torchvision (Debian's python3-torchvision): weights
# exported by tools/export_weights.py, loaded by name, outputs compared at both splits and the logits.
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 "$SOURCE_DIR/tests/parity/torchvision_resnet_reference.py" "$TMP/parity" >/dev/null &&
  /usr/bin/python3 "$SOURCE_DIR/tests/parity/torchvision_swin_reference.py" "$TMP/parity" >/dev/null &&
  /usr/bin/python3 "$SOURCE_DIR/tests/parity/torchvision_fpn_reference.py" "$TMP/parity" >/dev/null ||
  fail "cannot write the torchvision references (is python3-torchvision installed? tools/install_deps.sh installs it)"
FEATJND_PARITY_DIR="$TMP/parity" "$BUILD_DIR/tests/featjnd-plugin-tests" --test-case='* matches torchvision*' --success >"$TMP/out" 2>&1 ||
  { cat "$TMP/out"; fail "a backbone differs from torchvision"; }
grep -Eq "test cases: +3 \| +3 passed" "$TMP/out" || { cat "$TMP/out"; fail "the parity test case did not run"; }
[[ $(grep -c "SUCCESS: CHECK( rel(" "$TMP/out") -eq 19 ]] || { cat "$TMP/out"; fail "expected 19 comparisons"; }
grep -q "SUCCESS: CHECK( ours == theirs )" "$TMP/out" || { cat "$TMP/out"; fail "the Swin key sets were not compared"; }
echo "torchvision parity: ok"
