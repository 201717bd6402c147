# The paper's COCO setting on a two-image COCO folder written here: the loader (JPEG, torchvision's
# 800/1333 resize, padding), torchvision Mask R-CNN weights from tools/export_weights.py, and the
# evaluation against the annotation file in original image coordinates.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
"$PYTHON" - <<'PY' || fail "cannot write the COCO fixture"
import json, os
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
os.makedirs("data/coco/annotations", exist_ok=True)
for split in ("val2017", "train2017"):
    os.makedirs(f"data/coco/{split}", exist_ok=True)
    images, anns = [], []
    for i, (h, w) in enumerate([(120, 160), (150, 100)], start=1):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(f"data/coco/{split}/{i:012d}.jpg", quality=90)
        images.append({"id": i, "height": h, "width": w, "file_name": f"{i:012d}.jpg"})
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [10, 10, 40, 30], "area": 1200, "iscrowd": 0,
                     "segmentation": [[10, 10, 50, 10, 50, 40, 10, 40]]})
    json.dump({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]},
              open(f"data/coco/annotations/instances_{split}.json", "w"))
PY
"$PYTHON" "$SOURCE_DIR/tools/export_weights.py" --model maskrcnn_resnet50_fpn --weights random --out weights/maskrcnn_r50.safetensors >/dev/null ||
  fail "cannot export Mask R-CNN weights"
# Batches of one image: the two images have different sizes, so the FPN levels differ from batch to
# batch — what FeatJND's fit, its mean-map control and the quantizers meet on COCO.
cat >coco.json <<'JSON'
{"name": "coco_tiny", "seed": 0, "devices": ["cpu"],
 "components": {
   "backbone": {"plugin": "resnet", "params": {"arch": "resnet50", "neck": "fpn", "weights": "weights/maskrcnn_r50.safetensors"}},
   "task": {"plugin": "detection", "params": {"dataset": "coco", "root": "data/coco", "channels": 3, "batch_size": 1,
            "eval_samples": 2, "train_samples": 2, "box_score_thresh": 0.0}},
   "featjnd": {"plugin": "featjnd", "params": {"fit_samples": 2, "width": 8, "blocks": 0, "lr": 0.001, "calibration_samples": 2}},
   "quant-featjnd": {"plugin": "quant-featjnd", "params": {"sigma_q": 1.0}},
   "quant-random": {"plugin": "quant-random", "params": {"sigma_q": 1.0}},
   "quant-uniform": {"plugin": "quant-uniform", "params": {"sigma_q": 1.0}},
   "gaussian": {"plugin": "gaussian"}},
 "stages": [{"name": "prepare", "type": "prepare", "backbone": "backbone", "task": "task"},
            {"name": "fit", "type": "fit", "after": "prepare", "distortion": "featjnd"},
            {"name": "eval-featjnd", "type": "evaluate", "after": "fit", "distortion": "featjnd"},
            {"name": "eval-quant-featjnd", "type": "evaluate", "after": "fit", "distortion": "quant-featjnd"},
            {"name": "eval-quant-random", "type": "evaluate", "after": "fit", "distortion": "quant-random"},
            {"name": "eval-quant-uniform", "type": "evaluate", "after": "prepare", "distortion": "quant-uniform"},
            {"name": "eval-gaussian", "type": "evaluate", "after": "prepare", "distortion": "gaussian"}],
 "sweep": {"gaussian": {"sigma": [0.5]}, "featjnd": {"mode": ["adaptive", "mean"]}}}
JSON
"$ENGINE" run coco.json --db "$TMP/coco.db" >"$TMP/run.log" 2>&1 || { tail -20 "$TMP/run.log"; fail "the COCO spec did not run"; }
[[ $(sql "$TMP/coco.db" "SELECT count(*) FROM runs WHERE status='finished'") -eq 8 ]] || fail "expected 8 finished runs"
n=$(sql "$TMP/coco.db" "SELECT value FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.stage='eval-gaussian' AND key='clean.detections_per_image'")
[[ ${n%.*} -eq 100 ]] || fail "expected 100 detections per image at score threshold 0, got $n"
for key in clean.bbox.AP clean.segm.AP bbox.AP segm.AP; do
  v=$(sql "$TMP/coco.db" "SELECT value FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.stage='eval-gaussian' AND key='$key'")
  [[ -n $v ]] || fail "no $key"
done
# Every quantizer ran on both image sizes, with no token left at full precision.
for stage in eval-quant-featjnd eval-quant-random eval-quant-uniform; do
  v=$(sql "$TMP/coco.db" "SELECT value FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.stage='$stage' AND key='quant.unquantized_share'")
  [[ $v == 0 || $v == 0.0 ]] || fail "$stage: unquantized share '$v'"
done
# The checkpoint's own transform (torchvision's detection recipe, from export_weights.py's metadata)
# is the one the runs used and recorded.
rel=$(sql "$TMP/coco.db" "SELECT a.path FROM artifacts a JOIN runs r ON r.id=a.run_id WHERE r.stage='eval-gaussian' AND a.name='preprocess.json'")
"$PYTHON" - "$TMP/$rel" <<'PY' || fail "preprocess.json is not torchvision's detection recipe"
import json, sys
r = json.load(open(sys.argv[1]))
assert (r["resize"], r["max_size"], r["crop"], r["resize_on"], r["antialias"], r["pad_divisor"]) == (800, 1333, 0, "float", False, 32), r
PY
echo "detection on COCO: ok"
