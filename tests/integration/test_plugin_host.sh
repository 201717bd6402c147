# Plugin discovery, listing and every kind of refusal.
source "$(dirname "$0")/lib.sh"

out=$("$ENGINE" plugins --plugin-dir "$GOOD")
for name in toy-conv toy-classify toy-noise toy-fit; do contains "$out" "$name"; done
contains "$out" "sigma"
contains "$out" "$GOOD/toy_noise.so"

json=$("$ENGINE" plugins --plugin-dir "$GOOD" --json)
"$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); n={p["name"] for p in d}; assert {"toy-conv","toy-classify","toy-noise","toy-fit"} <= n, n' <<<"$json"

# FEATJND_PLUGIN_PATH is searched too.
out=$(FEATJND_PLUGIN_PATH="$GOOD" "$ENGINE" plugins)
contains "$out" "toy-fit"

expect_error "was built for plugin API 999 and LibTorch" "$ENGINE" plugins --plugin-dir "$TEST_PLUGINS/wrong_api"
grep -qF "this engine expects plugin API 5" "$TMP/err" || fail "the API refusal does not say what is expected"
grep -qF "$TEST_PLUGINS/wrong_api/wrong_api_version.so" "$TMP/err" || fail "the API refusal does not name the file"
[[ $(wc -l <"$TMP/err") -eq 1 ]] || fail "the API refusal is not one line"

expect_error "and LibTorch 0.4.1" "$ENGINE" plugins --plugin-dir "$TEST_PLUGINS/wrong_torch"
# Built with -D_GLIBCXX_USE_CXX11_ABI=0: the string ABI is refused before any C++ object crosses.
expect_error "was built with the C++ library ABI 'libstdc++ pre-cxx11'; this engine uses 'libstdc++ cxx11'" \
  "$ENGINE" plugins --plugin-dir "$TEST_PLUGINS/wrong_abi"
[[ $(wc -l <"$TMP/err") -eq 1 ]] || fail "the ABI refusal is not one line"
expect_error "is not a featjnd plugin: it does not export 'featjnd_plugin_entry'" \
  "$ENGINE" plugins --plugin-dir "$TEST_PLUGINS/not_a_plugin"

mkdir "$TMP/garbage"
echo "this is not an ELF file" >"$TMP/garbage/junk.so"
expect_error "is not a loadable shared object" "$ENGINE" plugins --plugin-dir "$TMP/garbage"

expect_error "two distortion plugins are named 'toy-noise'" \
  "$ENGINE" plugins --plugin-dir "$GOOD" --plugin-dir "$TEST_PLUGINS/duplicate"
grep -qF "$GOOD/toy_noise.so" "$TMP/err" && grep -qF "$TEST_PLUGINS/duplicate/toy_noise_again.so" "$TMP/err" ||
  fail "the duplicate error does not name both files"

# The same folder twice is not a duplicate.
"$ENGINE" plugins --plugin-dir "$GOOD" --plugin-dir "$GOOD" >/dev/null

expect_error "plugin folder '/nonexistent' does not exist" "$ENGINE" plugins --plugin-dir /nonexistent
echo "plugin host: ok"
