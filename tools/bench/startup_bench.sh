#!/usr/bin/env bash
# Start-up of the command line: min and median of N timings (default 10) of `featjnd-engine
# --version`, of a `query` on a small database and of `featjnd-engine-torch --version` (the
# executable that loads LibTorch, for comparison).
#   tools/bench/startup_bench.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
engine=$here/build/featjnd-engine
n=${1:-10}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$engine" run "$here/tests/specs/toy_sweep.json" --plugin-dir "$here/build/tests/plugins/good" --db "$tmp/s.db" 2>/dev/null
time_ms() {  # min and median in ms of n runs of "$@"
  for _ in $(seq "$n"); do
    local s e
    s=$(date +%s%N)
    "$@" >/dev/null
    e=$(date +%s%N)
    echo $(((e - s) / 1000))
  done | sort -n | awk '{t[NR] = $1} END {printf "min %7.1f ms  median %7.1f ms\n", t[1] / 1000, (t[int((NR + 1) / 2)] + t[int(NR / 2) + 1]) / 2000}'
}
printf "%-40s %s\n" "featjnd-engine --version" "$(time_ms "$engine" --version)"
printf "%-40s %s\n" "featjnd-engine query (15 runs)" "$(time_ms "$engine" query "$tmp/s.db" "SELECT COUNT(*) FROM runs")"
printf "%-40s %s\n" "featjnd-engine status" "$(time_ms "$engine" status "$tmp/s.db")"
printf "%-40s %s\n" "featjnd-engine-torch --version (LibTorch)" "$(time_ms "$here/build/featjnd-engine-torch" --version)"
