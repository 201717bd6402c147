# A real single-node Slurm (Debian's slurm-wlm and munge): tools/slurm/submit.sh runs a spec of two
# networks x two fits x evaluations (26 runs in three phases) as one array per phase (at most 4
# tasks, 2 at once) with a merge job after each; every run executes exactly once (the toy plugins
# log each execution); the merged database equals an unsharded run; submitting again resumes
# (every run skipped) and merges again. Submitting without RUN-ARGS works too. The daemons this
# test starts, it stops.
source "$(dirname "$0")/lib.sh"
if [[ $EUID -ne 0 ]]; then
  echo "SKIPPED: starting munged, slurmctld and slurmd needs root"
  exit 77
fi
for d in munged slurmctld slurmd sbatch scontrol; do
  command -v "$d" >/dev/null || fail "$d is missing: install slurm-wlm and munge (tools/install_deps.sh)"
done
cd "$TMP"
mkdir -p state spool log
port=$((20000 + $$ % 20000))
cat >slurm.conf <<CONF
ClusterName=featjnd-test
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
SlurmUser=root
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/log/slurmctld.log
SlurmdLogFile=$TMP/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$TMP/log/jobcomp.txt
MinJobAge=600
SchedulerParameters=bf_interval=1,sched_min_interval=100000
BatchStartTimeout=10
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=500 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$TMP/slurm.conf

started_munge=0
stop_daemons() {
  scontrol shutdown >/dev/null 2>&1 || true
  for pidfile in "$TMP/slurmctld.pid" "$TMP/slurmd.pid"; do
    [[ -s $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  [[ $started_munge == 1 ]] && pkill -u munge -x munged 2>/dev/null || true
  sleep 1
  rm -rf "$TMP"
}
trap stop_daemons EXIT
if ! pgrep -x munged >/dev/null; then
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- munged || fail "munged did not start"
  started_munge=1
fi
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start: $(tail -3 log/slurmctld.log)"
slurmd -f "$SLURM_CONF" -N localhost || fail "slurmd did not start: $(tail -3 log/slurmd.log)"
for _ in $(seq 60); do
  [[ $(sinfo -h -o %T 2>/dev/null) == idle ]] && break
  sleep 0.5
done
[[ $(sinfo -h -o %T) == idle ]] || fail "the node is not idle: $(sinfo -h -o %T; tail -3 log/slurmd.log)"

SPEC="$SPECS/toy_networks.json"
export FEATJND_TEST_EXECUTIONS=$TMP/executions  # sbatch passes the environment to the jobs
out=$("$SOURCE_DIR/tools/slurm/submit.sh" "$SPEC" --tasks 4 --throttle 2 --dir "$TMP/job" --engine "$ENGINE" \
  --wait -- --plugin-dir "$GOOD") || { cat "$TMP"/job/logs/*.log >&2; fail "the Slurm job failed"; }
unset FEATJND_TEST_EXECUTIONS
contains "$out" "phase 0: 2 runs, array job"
contains "$out" "phase 1: 12 runs, array job"
contains "$out" "(4 tasks, at most 2 at once)"
# Three arrays (2 + 4 + 4 tasks) and three merges completed with exit code 0, as slurmctld recorded them.
[[ $(grep -c "JobState=COMPLETED.*ExitCode=0:0" log/jobcomp.txt) == 13 ]] || { cat log/jobcomp.txt; fail "not 13 completed jobs"; }
[[ $(grep -c "ArrayTaskId=[0-3] " log/jobcomp.txt) == 10 ]] || fail "the arrays did not have 2 + 4 + 4 tasks"
grep -q "ArrayTaskThrottle=2" <<<"$(scontrol show job)" || fail "the arrays were not throttled to 2"
# Every run executed exactly once, across all tasks of all phases.
[[ $(wc -l <"$TMP/executions") -eq 26 ]] || { sort "$TMP/executions" | uniq -c; fail "expected 26 executions, one per run"; }
[[ -z $(sort "$TMP/executions" | uniq -d) ]] || { sort "$TMP/executions" | uniq -d; fail "a run executed twice"; }

"$ENGINE" run "$SPEC" --plugin-dir "$GOOD" --db "$TMP/full.db" 2>/dev/null
"$ENGINE" export "$TMP/job/toy_networks.db" --format json -o "$TMP/merged.json"
"$ENGINE" export "$TMP/full.db" --format json -o "$TMP/full.json"
"$PYTHON" "$SOURCE_DIR/tests/integration/compare_runs.py" "$TMP/merged.json" "$TMP/full.json" \
  || fail "the database merged by Slurm differs from the unsharded run"

# Again: every task finds its runs finished, and the merges replace their databases.
"$SOURCE_DIR/tools/slurm/submit.sh" "$SPEC" --tasks 4 --dir "$TMP/job" --engine "$ENGINE" --wait \
  -- --plugin-dir "$GOOD" >/dev/null || fail "the resubmission failed"
for log in job/logs/phase-*-shard-*.log; do
  grep -q "already finished (same content hash): skipped" "$log" || { cat "$log"; fail "$log: the task did not resume"; }
done
"$ENGINE" export "$TMP/job/toy_networks.db" --format json -o "$TMP/merged2.json"
"$PYTHON" "$SOURCE_DIR/tests/integration/compare_runs.py" "$TMP/merged2.json" "$TMP/full.json" >/dev/null \
  || fail "the resubmission changed the results"
[[ ! -e "$TMP/job/toy_networks.db.new" ]] || fail "the merge left its temporary file"
# Without RUN-ARGS (no empty argument reaches run): the toy plugins from FEATJND_PLUGIN_PATH.
FEATJND_PLUGIN_PATH=$GOOD "$SOURCE_DIR/tools/slurm/submit.sh" "$SPECS/toy_sweep.json" --tasks 2 --dir "$TMP/bare" \
  --engine "$ENGINE" --wait >/dev/null || { cat "$TMP"/bare/logs/*.log >&2; fail "submit.sh without RUN-ARGS failed"; }
[[ $(sql "$TMP/bare/toy_sweep.db" "SELECT COUNT(*) FROM runs WHERE status='finished'") -eq 15 ]] ||
  fail "submit.sh without RUN-ARGS did not finish the 15 runs"
# A spec that does not validate is refused before anything is queued.
expect_error "does not exist" "$SOURCE_DIR/tools/slurm/submit.sh" "$TMP/nothing.json" --engine "$ENGINE"
echo "slurm: ok"
