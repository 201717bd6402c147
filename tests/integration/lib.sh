# Shared helpers for the integration tests; each test sources this file.
set -euo pipefail
: "${ENGINE:?ENGINE must point at featjnd-engine}"
: "${TEST_PLUGINS:?}"
: "${SOURCE_DIR:?}"
# The project's Python environment (CMake's FEATJND_PYTHON: torch, torchvision, timm and the
# reference libraries), else python3 on PATH.
PYTHON=${PYTHON:-python3}
GOOD="$TEST_PLUGINS/good"
SPECS="$SOURCE_DIR/tests/specs"
TMP=$(mktemp -d /tmp/featjnd-it.XXXXXX)
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# sql DB "SELECT ..." -> the first column of the first row
sql() { "$ENGINE" query "$1" "$2" --format csv | sed -n 2p | cut -d, -f1; }

# expect_error "text" cmd... : the command must fail and print exactly one stderr line containing text
expect_error() {
  local text=$1; shift
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  [[ $rc -ne 0 ]] || fail "expected '$*' to fail; it exited 0"
  grep -qF -- "$text" "$TMP/err" || { cat "$TMP/err" >&2; fail "stderr of '$*' lacks: $text"; }
}

contains() { grep -qF -- "$2" <<<"$1" || fail "output lacks: $2"; }
