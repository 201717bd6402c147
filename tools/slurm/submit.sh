#!/usr/bin/env bash
# Submits an experiment to Slurm so that every run executes exactly once: one job array per phase
# of the experiment's dependency graph (phase 0: the runs without upstream runs, the prepares;
# phase p: runs whose deepest upstream run is in phase p - 1) and a merge job after each. Task i of
# phase p runs `featjnd-engine run --shard i/N --phase p`, its own share of that phase's runs, into
# a database it starts from the previous phase's merged database (--base); the phase's merge job
# (afterok) combines them, and the next phase's array waits for it (afterok). The last merge
# writes the experiment's database. Submitting again resumes: every task skips the runs its
# database already holds, and each merge replaces its output only when it succeeds.
#
#   tools/slurm/submit.sh SPEC [--tasks N] [--throttle P] [--dir DIR] [--engine PATH] [--wait]
#                         [--sbatch "ARGS"] [-- RUN-ARGS...]
#
#   --tasks N      tasks per phase at most (default 4); a phase of fewer runs gets one task per run
#   --throttle P   at most P tasks of an array at once (sbatch --array=...%P; default N)
#   --dir DIR      where databases, job scripts and logs go (default results/slurm/<spec name>);
#                  on a file system every node sees (the shards read the merged databases)
#   --engine PATH  the featjnd-engine to run (default: build/featjnd-engine beside this script)
#   --wait         return when the last merge job ends, with its exit status
#   --sbatch ARGS  passed to every sbatch call (partition, time, --gres=gpu:1, ...)
#   RUN-ARGS       passed to every `run` (--devices cuda:0, --set PATH=VALUE, --plugin-dir DIR)
#
# The merged database is DIR/<spec name>.db; `featjnd-engine report` reads it as any other.
set -euo pipefail
usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "submit.sh: $*" >&2; exit 2; }

[[ $# -ge 1 && $1 != -* ]] || usage
spec=$(realpath -e -- "$1") || die "$1: the spec does not exist"
shift
here=$(cd "$(dirname "$0")/../.." && pwd)
tasks=4 throttle="" dir="" engine="$here/build/featjnd-engine" wait=0 sbatch_args=""
run_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --tasks) tasks=${2:?}; shift 2 ;;
    --throttle) throttle=${2:?}; shift 2 ;;
    --dir) dir=${2:?}; shift 2 ;;
    --engine) engine=${2:?}; shift 2 ;;
    --wait) wait=1; shift ;;
    --sbatch) sbatch_args=${2?}; shift 2 ;;
    --) shift; run_args=("$@"); break ;;
    *) die "unknown option '$1' (see --help: the arguments of run follow --)" ;;
  esac
done
[[ $tasks =~ ^[1-9][0-9]{0,4}$ ]] || die "--tasks: '$tasks' is not a number of tasks in [1, 99999]"
throttle=${throttle:-$tasks}
[[ $throttle =~ ^[1-9][0-9]{0,4}$ ]] || die "--throttle: '$throttle' is not a positive number"
[[ -x $engine ]] || die "$engine: not an executable featjnd-engine (build it, or give --engine)"
command -v sbatch >/dev/null || die "sbatch is not on PATH: is this a Slurm login node?"
name=$(basename "$spec" .json)
dir=$(realpath -m -- "${dir:-results/slurm/$name}")
mkdir -p "$dir/logs"
engine=$(realpath -e -- "$engine")

# The spec must validate before anything is queued (the engine prints the one line that says
# why); its dry run gives the number of runs in each phase.
header=$("$engine" run "$spec" --dry-run "${run_args[@]}" | head -1)
# (its first line: "experiment NAME: R runs (...) by phase (0: R0, 1: R1, ...) -> DB").
mapfile -t counts < <(sed -n 's/.* by phase (\([^)]*\)).*/\1/p' <<<"$header" | grep -o '[0-9]*: [0-9]*' | sed 's/.*: //')
((${#counts[@]})) || die "the dry run of $spec lists no phases: $header"

# RUN-ARGS quoted once for the job scripts (none: nothing, not an empty argument).
quoted_args=""
((${#run_args[@]})) && quoted_args=$(printf ' %q' "${run_args[@]}")
q() { printf %q "$1"; }

after="" last=$((${#counts[@]} - 1))
for ((p = 0; p <= last; p++)); do
  n=$((counts[p] < tasks ? counts[p] : tasks))
  base=""
  ((p > 0)) && base=" --base $(q "$dir/phase-$((p - 1)).db")"
  cat >"$dir/phase-$p.sbatch" <<JOB
#!/usr/bin/env bash
# Phase $p of $spec, task \$SLURM_ARRAY_TASK_ID of $n (written by tools/slurm/submit.sh).
set -euo pipefail
exec $(q "$engine") run $(q "$spec") --shard "\$SLURM_ARRAY_TASK_ID/$n" --phase $p \\
  --db $(q "$dir")/phase-$p-shard-\$SLURM_ARRAY_TASK_ID.db$base$quoted_args
JOB
  inputs=""
  ((p > 0)) && inputs=" $(q "$dir/phase-$((p - 1)).db")"
  for ((i = 0; i < n; i++)); do inputs+=" $(q "$dir/phase-$p-shard-$i.db")"; done
  out=$dir/phase-$p.db
  ((p == last)) && out=$dir/$name.db
  cat >"$dir/merge-$p.sbatch" <<JOB
#!/usr/bin/env bash
# Merges phase $p of $spec into $out (written by tools/slurm/submit.sh).
set -euo pipefail
rm -f $(q "$out.new")
$(q "$engine") merge $(q "$out.new")$inputs
mv -f $(q "$out.new") $(q "$out")
JOB
  dep=()
  [[ -n $after ]] && dep=(--dependency="afterok:$after" --kill-on-invalid-dep=yes)
  # shellcheck disable=SC2086  # sbatch_args is a list of words by design
  array=$(sbatch --parsable $sbatch_args "${dep[@]}" --job-name="featjnd-$name-p$p" \
    --array="0-$((n - 1))%$((throttle < n ? throttle : n))" --output="$dir/logs/phase-$p-shard-%a.log" "$dir/phase-$p.sbatch")
  array=${array%%;*}
  wait_flag=()
  [[ $wait == 1 && $p == "$last" ]] && wait_flag=(--wait)
  echo "phase $p: ${counts[p]} runs, array job $array ($n tasks, at most $((throttle < n ? throttle : n)) at once)"
  # shellcheck disable=SC2086
  merge=$(sbatch --parsable $sbatch_args "${wait_flag[@]}" --job-name="featjnd-$name-merge-p$p" \
    --dependency="afterok:$array" --kill-on-invalid-dep=yes --output="$dir/logs/merge-$p.log" "$dir/merge-$p.sbatch")
  after=${merge%%;*}
  echo "phase $p: merge job $after -> $out"
done
