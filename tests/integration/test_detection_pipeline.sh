# The detection pipeline end to end at test size: scenes, Mask R-CNN training, FeatJND over the
# five FPN levels, Gaussian noise, COCO metrics, the report, the figures, and the scenes' COCO file
# read back by coco-eval.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
"$ENGINE" run "$SOURCE_DIR/tests/specs/detection_tiny.json" --db "$TMP/det.db" >"$TMP/run.log" 2>&1 ||
  { tail -20 "$TMP/run.log"; fail "the detection spec did not run"; }
[[ $(sql "$TMP/det.db" "SELECT count(*) FROM runs WHERE status='finished'") -eq 7 ]] || fail "expected 7 finished runs"
# The inspect stage on Mask R-CNN: the top detection's score attributed to the scene, per image.
[[ $(sql "$TMP/det.db" "SELECT count(*) FROM artifacts WHERE name LIKE '%.png'") -eq 10 ]] || fail "expected 10 PNG artifacts"
[[ $(sql "$TMP/det.db" "SELECT count(*) FROM metrics WHERE key='inspect.target_clean' AND value > 0") -eq 2 ]] ||
  fail "no detection score to attribute"
for key in clean.bbox.AP clean.segm.AP bbox.AP segm.AP nrmse cosine; do
  n=$(sql "$TMP/det.db" "SELECT count(*) FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.stage_type='evaluate' AND m.key='$key'")
  [[ $n -eq 4 ]] || fail "metric $key: $n evaluations have it, expected 4"
done
n=$(sql "$TMP/det.db" "SELECT count(DISTINCT key) FROM metrics WHERE key LIKE 'segm.%' OR key LIKE 'bbox.%'")
[[ $n -eq 24 ]] || fail "expected the 12 bbox and 12 segm statistics, found $n keys"
out=$("$ENGINE" report "$TMP/det.db" --metric segm.AP)
contains "$out" "clean segm.AP"
contains "$out" "against Gaussian noise at matched NRMSE"
contains "$out" "Controls"
"$ENGINE" figures "$TMP/det.db" --out "$TMP/figs" >/dev/null || fail "figures failed"
[[ -s "$TMP/figs/fig5_resnet18-neck-fpn_bbox.png" && -s "$TMP/figs/fig6_resnet18-neck-fpn_segm.png" ]] || { ls "$TMP/figs"; fail "no Fig. 5 panel"; }
# The scenes' COCO file: the ground truth scored against itself is a perfect result.
gt=$(find "$TMP" -name scenes_val.json | head -1)
[[ -n "$gt" ]] || fail "the prepare stage wrote no scenes_val.json"
"$PYTHON" - "$gt" "$TMP/self.json" <<'PY'
import json, sys
gt = json.load(open(sys.argv[1]))
json.dump([{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0,
            "segmentation": a["segmentation"]} for a in gt["annotations"]], open(sys.argv[2], "w"))
PY
for iou in bbox segm; do
  ap=$("$ENGINE" coco-eval --gt "$gt" --dt "$TMP/self.json" --iou $iou --json | "$PYTHON" -c "import json,sys; print(json.load(sys.stdin)['stats'][0])")
  "$PYTHON" -c "import sys; sys.exit(0 if abs(float('$ap') - 1) < 1e-9 else 1)" || fail "$iou AP of the ground truth against itself is $ap"
done
echo "detection pipeline: ok"
