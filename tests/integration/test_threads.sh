# Worker threads come from the CPUs the process may use (its affinity, its cgroup quota), not from
# every CPU of the machine: under `taskset -c 0` a CPU worker runs one intra-op thread.
source "$(dirname "$0")/lib.sh"
(( $(nproc --all) >= 2 )) || fail "this test needs a machine with at least 2 CPUs (it has $(nproc --all))"
run_toy() {  # run_toy NAME [taskset CPUS]: the toy sweep, then the worker's thread count from its log
  local name=$1; shift
  "$@" "$ENGINE" run "$SPECS/toy_sweep.json" --plugin-dir "$GOOD" --db "$TMP/$name.db" >"$TMP/$name.out" 2>&1 ||
    { cat "$TMP/$name.out"; fail "the toy sweep failed ($name)"; }
  sed -n 's/.*on cpu: \([0-9]*\) intra-op threads.*/\1/p' "$TMP/$name.artifacts/logs/worker-cpu.log" | head -1
}
all=$(run_toy all env)
one=$(run_toy one taskset -c 0)
[[ $all -eq $(nproc) ]] || fail "without taskset the worker took $all threads; this process may use $(nproc)"
[[ $one -eq 1 ]] || fail "under taskset -c 0 the worker took $one threads, expected 1"
echo "threads: $all without taskset, $one under taskset -c 0"
