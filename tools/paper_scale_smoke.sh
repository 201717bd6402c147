#!/usr/bin/env bash
# The paper's Table 2 experiment (experiments/table2.json) at full size on stand-ins: every stage
# type for every paper backbone — Swin-T/S/B and PVTv2-b1/b2/b3 classifiers at 224, Mask R-CNN with
# Swin-T/S and PVTv2-b1/b2/b3 at 800x1333 with D_det and D_seg — with only the sample counts, the
# budgets and the seeds cut down (the spec's structure unchanged), then `report --table2`.
# --spec rate: the same for experiments/rate.json (every quantizer in codec mode, the min-max
# anchor), then `report --rate` for top-1, bbox AP and segm AP.
#
#   tools/paper_scale_smoke.sh [--quick] [--spec table2|rate] [--devices LIST] [DIR]
#                                                                   (default DIR: results/paper-scale)
#
# tools/make_standins.py writes the ImageNet and COCO stand-ins and the random weights into DIR
# (kept: a second run reuses them); the experiment runs from DIR, so the spec's relative paths
# (data/imagenet, data/coco, weights/...) resolve there. --quick (what CI runs): one classifier
# (Swin-T) and one detector (Mask R-CNN Swin-T). At the end: the time of each stage per model
# (from the database), what a GPU job needs to be sized.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
quick=0 devices=cpu dir=$root/results/paper-scale spec=table2
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --devices) devices=$2; shift ;;
    --spec) spec=$2; shift
      [[ $spec == table2 || $spec == rate ]] || { echo "paper_scale_smoke: --spec $spec: expected table2 or rate" >&2; exit 2; } ;;
    -*) echo "paper_scale_smoke: unknown option $1 (expected --quick, --spec, --devices LIST, DIR)" >&2; exit 2 ;;
    *) dir=$1 ;;
  esac
  shift
done
PYTHON=${PYTHON:-$root/.venv/bin/python}
engine=${ENGINE:-$root/build/featjnd-engine}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
t0=$SECONDS
if ((quick)); then  # images for 16 of the 1000 classes (every class folder exists), one COCO image per split
  "$PYTHON" "$root/tools/make_standins.py" "$dir" --imagenet-val 1 --imagenet-train 1 --imagenet-classes-with-images 16 \
    --coco-val 1 --coco-train 1 --models swin_t,mrcnn_swin_t
else
  "$PYTHON" "$root/tools/make_standins.py" "$dir" --imagenet-val 1 --imagenet-train 1 --coco-val 2 --coco-train 2
fi
echo "stand-ins ready in $((SECONDS - t0)) s"

# The cut-down budget, as --set overrides: samples, budgets (two sigma_q; --quick: one), seeds (one).
det_images=2 budgets="[0.4, 1.6]"
((quick)) && det_images=1 budgets="[0.4]"
sets=(
  components.cls-task.params.eval_samples=8 components.cls-task.params.train_samples=8
  components.cls-task.params.batch_size=4 components.cls-task.params.workers=2
  components.featjnd-cls.params.fit_samples=8
  components.det-task.params.eval_samples=$det_images components.det-task.params.train_samples=$det_images
  components.det-task.params.batch_size=1
  components.featjnd-det.params.fit_samples=$det_images
)
for side in cls det; do
  sets+=("/sweep/quant-featjnd-$side/sigma_q=$budgets" "/sweep/quant-random-$side/sigma_q=$budgets"
         "/sweep/quant-random-$side/seed=[0]" "/sweep/quant-uniform-$side/sigma_q=$budgets")
  [[ $spec == rate ]] && sets+=("/sweep/quant-minmax-$side/bits=$( ((quick)) && echo "[8]" || echo "[4, 8]")")
done
if ((quick)); then  # the first case of each group: Swin-T
  cases=$("$PYTHON" -c "import json,sys; s=json.load(open(sys.argv[1])); print(json.dumps(s['cases']['classifier'][:1]), json.dumps(s['cases']['detector'][:1]), sep='\n')" \
    "$root/experiments/$spec.json")
  sets+=("/cases/classifier=$(sed -n 1p <<<"$cases")" "/cases/detector=$(sed -n 2p <<<"$cases")")
fi
args=()
for s in "${sets[@]}"; do args+=(--set "$s"); done
cd "$dir"
db=$dir/$spec-smoke.db
t0=$SECONDS
"$engine" run "$root/experiments/$spec.json" --db "$db" --devices "$devices" "${args[@]}"
echo "$spec.json on the stand-ins: $((SECONDS - t0)) s"
if [[ $spec == table2 ]]; then
  "$engine" report "$db" --table2
else
  for metric in top1 bbox.AP segm.AP; do "$engine" report "$db" --rate --metric "$metric"; done
fi
echo
echo "time per stage and model (s; from the runs' start and end):"
# The model is the run's case in its label (classifier=swin_t, detector=pvt_v2_b1).
"$engine" query "$db" "WITH l AS (SELECT stage, end_time - start_time AS t, substr(label, instr(label,
    CASE WHEN instr(label, 'classifier=') > 0 THEN 'classifier=' ELSE 'detector=' END)) AS s
    FROM runs WHERE status = 'finished')
  SELECT stage, substr(s, 1, instr(s || ' ', ' ') - 1) AS model, COUNT(*) AS runs, ROUND(SUM(t), 1) AS total_s,
    ROUND(AVG(t), 1) AS mean_s FROM l GROUP BY stage, model ORDER BY model, stage"
