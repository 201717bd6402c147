# The ImageNet-layout loader on real JPEG files: two colour classes written with Pillow, a network
# trained on them through the engine, evaluated on the val/ folder.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
"$PYTHON" - "$TMP/data" <<'PY'
import os, random, sys
from PIL import Image
root = sys.argv[1]
random.seed(0)
for split, n in (("train", 24), ("val", 8)):
    for cls, colour in (("n01_red", (200, 30, 30)), ("n02_blue", (30, 30, 200))):
        os.makedirs(f"{root}/{split}/{cls}", exist_ok=True)
        for i in range(n):
            w, h = random.randint(40, 64), random.randint(40, 64)
            img = Image.new("RGB", (w, h), tuple(min(255, max(0, c + random.randint(-25, 25))) for c in colour))
            img.save(f"{root}/{split}/{cls}/img{i}.JPEG", quality=90)
    # A grey-scale JPEG must decode to three channels too.
    Image.new("L", (48, 40), 120).save(f"{root}/{split}/n01_red/grey.JPEG")
PY
cat >"$TMP/folder.json" <<JSON
{
  "name": "imagefolder-test",
  "components": {
    "backbone": {"plugin": "resnet", "params": {"arch": "resnet18", "width": 4}},
    "task": {"plugin": "classification", "params": {"dataset": "imagefolder", "root": "$TMP/data", "channels": 3,
             "preprocess": {"resize": 72, "crop": 64}, "batch_size": 8, "epochs": 3, "lr": 0.01, "workers": 3}}
  },
  "stages": [
    {"name": "prepare", "type": "prepare", "backbone": "backbone", "task": "task"},
    {"name": "eval", "type": "evaluate", "after": "prepare"}
  ]
}
JSON
"$ENGINE" run "$TMP/folder.json" --db "$TMP/f.db" 2>"$TMP/log" || { cat "$TMP/log"; fail "imagefolder run failed"; }
[[ $(sql "$TMP/f.db" "SELECT value FROM metrics WHERE key='samples'") == 17 ]] || fail "val/ should hold 17 images"
top1=$(sql "$TMP/f.db" "SELECT value FROM metrics WHERE key='top1'")
"$PYTHON" -c "assert float('$top1') >= 0.9, 'top1 $top1 on red vs blue'"
# Each run records the transform its images went through: torchvision's default recipe (no weights
# named) with the spec's two fields over it.
rel=$(sql "$TMP/f.db" "SELECT a.path FROM artifacts a JOIN runs r ON r.id=a.run_id WHERE r.stage='eval' AND a.name='preprocess.json'")
[[ -n $rel ]] || fail "the evaluation recorded no preprocess.json"
"$PYTHON" - "$TMP/$rel" <<'PY' || fail "preprocess.json is not the spec's recipe over torchvision's"
import json, sys
r = json.load(open(sys.argv[1]))
assert (r["resize"], r["crop"], r["interpolation"], r["antialias"], r["resize_on"]) == (72, 64, "bilinear", True, "uint8"), r
assert r["mean"] == [0.485, 0.456, 0.406], r
PY
# A recipe field that does not exist fails the run naming it.
sed 's/"crop": 64}/"crop": 64, "crop_pct": 0.9}/' "$TMP/folder.json" >"$TMP/bad.json"
"$ENGINE" run "$TMP/bad.json" --db "$TMP/bad.db" 2>/dev/null && fail "an unknown preprocess field went unnoticed"
"$ENGINE" status "$TMP/bad.db" | grep -q "preprocess.crop_pct: unknown" || { "$ENGINE" status "$TMP/bad.db"; fail "the unknown field is not named"; }

# A file that is no JPEG fails its run with a message naming the file.
head -c 3000 /dev/urandom >"$TMP/data/val/n02_blue/img0b.JPEG"
"$ENGINE" run "$TMP/folder.json" --db "$TMP/g.db" 2>"$TMP/log2" && fail "a truncated JPEG went unnoticed"
"$ENGINE" status "$TMP/g.db" | grep -q "img0b.JPEG" || { "$ENGINE" status "$TMP/g.db"; fail "the failure does not name the file"; }
echo "imagefolder: ok"
