#!/usr/bin/env bash
# Submits an experiment to Slurm: one job array over `featjnd-engine run --shard i/N` (a database
# and a log per task) and a merge job that starts when every task succeeded (afterok) and writes
# the experiment's database. Submitting again resumes: each task skips the runs its database
# already holds, and the merge replaces the merged database only when it succeeds.
#
#   tools/slurm/submit.sh SPEC [--tasks N] [--throttle P] [--dir DIR] [--engine PATH] [--wait]
#                         [--sbatch "ARGS"] [-- RUN-ARGS...]
#
#   --tasks N      array size (default 4); task i runs --shard i/N into DIR/shard-i.db
#   --throttle P   at most P tasks at once (sbatch --array=0-(N-1)%P; default N)
#   --dir DIR      where databases, job scripts and logs go (default results/slurm/<spec name>)
#   --engine PATH  the featjnd-engine to run (default: build/featjnd-engine beside this script)
#   --wait         return when the merge job ends, with its exit status
#   --sbatch ARGS  passed to both sbatch calls (partition, time, --gres=gpu:1, ...)
#   RUN-ARGS       passed to every `run` (--devices cuda:0, --set PATH=VALUE, --plugin-dir DIR)
#
# The merged database is DIR/<spec name>.db; `featjnd-engine report` reads it as any other.
set -euo pipefail
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
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

# The spec must validate before anything is queued (the engine prints the one line that says why).
"$engine" run "$spec" --dry-run "${run_args[@]}" >/dev/null

quoted_args=$(printf ' %q' "${run_args[@]}")
cat >"$dir/shard.sbatch" <<JOB
#!/usr/bin/env bash
# Task \$SLURM_ARRAY_TASK_ID of $tasks: its shard of $spec (written by tools/slurm/submit.sh).
set -euo pipefail
exec $(printf %q "$engine") run $(printf %q "$spec") --shard "\$SLURM_ARRAY_TASK_ID/$tasks" \\
  --db $(printf %q "$dir")/shard-\$SLURM_ARRAY_TASK_ID.db${quoted_args}
JOB
shards=""
for ((i = 0; i < tasks; i++)); do shards+=" $(printf %q "$dir/shard-$i.db")"; done
merged=$(printf %q "$dir/$name.db")
cat >"$dir/merge.sbatch" <<JOB
#!/usr/bin/env bash
# Merges the $tasks shard databases of $spec into $dir/$name.db (written by tools/slurm/submit.sh).
set -euo pipefail
rm -f $merged.new
$(printf %q "$engine") merge $merged.new$shards
mv -f $merged.new $merged
JOB

# shellcheck disable=SC2086  # sbatch_args is a list of words by design
array=$(sbatch --parsable $sbatch_args --job-name="featjnd-$name" --array="0-$((tasks - 1))%$throttle" \
  --output="$dir/logs/shard-%a.log" "$dir/shard.sbatch")
array=${array%%;*}
wait_flag=()
[[ $wait == 1 ]] && wait_flag=(--wait)
echo "submitted array job $array ($tasks tasks, at most $throttle at once): logs in $dir/logs"
echo "merge job after it: $dir/$name.db"
# shellcheck disable=SC2086
merge=$(sbatch --parsable $sbatch_args "${wait_flag[@]}" --job-name="featjnd-$name-merge" \
  --dependency="afterok:$array" --kill-on-invalid-dep=yes --output="$dir/logs/merge.log" "$dir/merge.sbatch")
echo "merge job ${merge%%;*}"
