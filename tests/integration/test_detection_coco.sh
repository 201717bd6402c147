# The paper's COCO setting on a two-image COCO folder written here: the loader (JPEG, torchvision's
# 800/1333 resize, padding), torchvision Mask R-CNN weights from tools/export_weights.py, and the
# evaluation against the annotation file in original image coordinates.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
/usr/bin/python3 - <<'PY' || fail "cannot write the COCO fixture"
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
/usr/bin/python3 "$SOURCE_DIR/tools/export_weights.py" --model maskrcnn_resnet50_fpn --weights random --out weights/maskrcnn_r50.safetensors >/dev/null ||
  fail "cannot export Mask R-CNN weights"
cat >coco.json <<'JSON'
{"name": "coco_tiny", "seed": 0, "devices": ["cpu"],
 "components": {
   "backbone": {"plugin": "resnet", "params": {"arch": "resnet50", "neck": "fpn", "weights": "weights/maskrcnn_r50.safetensors"}},
   "task": {"plugin": "detection", "params": {"dataset": "coco", "root": "data/coco", "channels": 3, "batch_size": 2,
            "eval_samples": 2, "train_samples": 2, "box_score_thresh": 0.0}},
   "gaussian": {"plugin": "gaussian"}},
 "stages": [{"name": "prepare", "type": "prepare", "backbone": "backbone", "task": "task"},
            {"name": "eval-gaussian", "type": "evaluate", "after": "prepare", "distortion": "gaussian"}],
 "sweep": {"gaussian": {"sigma": [0.5]}}}
JSON
"$ENGINE" run coco.json --db "$TMP/coco.db" >"$TMP/run.log" 2>&1 || { tail -20 "$TMP/run.log"; fail "the COCO spec did not run"; }
[[ $(sql "$TMP/coco.db" "SELECT count(*) FROM runs WHERE status='finished'") -eq 2 ]] || fail "expected 2 finished runs"
n=$(sql "$TMP/coco.db" "SELECT value FROM metrics WHERE key='clean.detections_per_image'")
[[ ${n%.*} -eq 100 ]] || fail "expected 100 detections per image at score threshold 0, got $n"
for key in clean.bbox.AP clean.segm.AP bbox.AP segm.AP; do
  v=$(sql "$TMP/coco.db" "SELECT value FROM metrics WHERE key='$key'")
  [[ -n $v ]] || fail "no $key"
done
echo "detection on COCO: ok"
