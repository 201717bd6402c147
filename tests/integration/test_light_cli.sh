# The front end loads no LibTorch (the commands that read databases start in milliseconds) and
# hands run, plugins and worker to featjnd-engine-torch beside it.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
# (captured first: `ldd | grep -q` fails under pipefail when grep stops reading early)
front=$(ldd "$ENGINE")
torch=$(ldd "$(dirname "$ENGINE")/featjnd-engine-torch")
! grep -qi "torch\|libc10" <<<"$front" || { echo "$front"; fail "featjnd-engine links LibTorch"; }
grep -q "libtorch" <<<"$torch" || fail "featjnd-engine-torch does not link LibTorch"
contains "$("$ENGINE" run --help)" "--shard"
contains "$("$ENGINE" plugins --plugin-dir "$GOOD")" "toy-conv"
"$ENGINE" run "$SPECS/toy_sweep.json" --plugin-dir "$GOOD" --db "$TMP/r.db" 2>/dev/null || fail "run failed"
[[ $(sql "$TMP/r.db" "SELECT COUNT(*) FROM runs WHERE status='finished'") == 15 ]] || fail "run did not finish its runs"
# Without its sibling the front end says so in one line.
mkdir alone && cp "$ENGINE" alone/
expect_error "cannot start '$TMP/alone/featjnd-engine-torch'" alone/featjnd-engine run "$SPECS/toy_sweep.json"
[[ $(wc -l <"$TMP/err") -eq 1 ]] || fail "more than one line"
alone/featjnd-engine query "$TMP/r.db" "SELECT 1" >/dev/null || fail "query needs the torch engine"
echo "light command line: ok"
