# `featjnd-engine coco-eval`: the summary, --json, and one clear stderr line for bad input.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/gt.json" <<'JSON'
{"images": [{"id": 1, "height": 50, "width": 60}, {"id": 2, "height": 50, "width": 60}],
 "categories": [{"id": 1, "name": "shirt"}, {"id": 2, "name": "bag"}],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0,
   "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]]},
  {"id": 2, "image_id": 2, "category_id": 2, "bbox": [10, 5, 40, 40], "area": 1600, "iscrowd": 0,
   "segmentation": [[10, 5, 50, 5, 50, 45, 10, 45]]}]}
JSON
# Image 1: the (small) shirt found; image 2: the (medium) bag missed, a small false positive instead,
# which the medium range ignores.
cat >"$TMP/dt.json" <<'JSON'
[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
 {"image_id": 2, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 0.8}]
JSON
out=$("$ENGINE" coco-eval --gt "$TMP/gt.json" --dt "$TMP/dt.json" --iou bbox 2>/dev/null)
contains "$out" "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.500"
contains "$out" "Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.000"
json=$("$ENGINE" coco-eval --gt "$TMP/gt.json" --dt "$TMP/dt.json" --iou segm --json 2>/dev/null)
"$PYTHON" - "$json" <<'PY' || fail "--json stats are not the hand-computed ones: $json"
import json, sys
s = json.loads(sys.argv[1])["stats"]
# shirt: AP 1 (small), bag: AP 0 (medium, missed); large: no ground truth.
want = [0.5, 0.5, 0.5, 1.0, 0.0, -1, 0.5, 0.5, 0.5, 1.0, 0.0, -1]
assert len(s) == 12 and all(abs(a - b) < 1e-9 for a, b in zip(s, want)), s
PY
echo '[{"image_id":1,"category_id":1,"bbox":[0,0,1,1],"score":1},{"image_id":1,"category_id":1,"bbox":[0,0],"score":1}]' >"$TMP/bad.json"
expect_error "bad.json: /1/bbox: expected [x, y, width, height]" "$ENGINE" coco-eval --gt "$TMP/gt.json" --dt "$TMP/bad.json"
# A results file is checked in full whatever the IoU type: a negative box size, and in bbox mode a
# segmentation of another size or with counts that do not tile its image.
echo '[{"image_id":1,"category_id":1,"bbox":[0,0,-5,10],"score":1}]' >"$TMP/neg.json"
expect_error "neg.json: /0/bbox: expected a width and height ≥ 0; found -5 x 10" "$ENGINE" coco-eval --gt "$TMP/gt.json" --dt "$TMP/neg.json" --iou bbox
echo '[{"image_id":1,"category_id":1,"bbox":[0,0,5,5],"score":1,"segmentation":{"size":[10,10],"counts":[100]}}]' >"$TMP/size.json"
expect_error "size.json: /0/segmentation/size: the mask is 10x10, its image 50x60" "$ENGINE" coco-eval --gt "$TMP/gt.json" --dt "$TMP/size.json" --iou bbox
echo '[{"image_id":1,"category_id":1,"bbox":[0,0,5,5],"score":1,"segmentation":{"size":[50,60],"counts":[10,20]}}]' >"$TMP/counts.json"
expect_error "counts.json: /0/segmentation/counts: runs cover 30 pixels" "$ENGINE" coco-eval --gt "$TMP/gt.json" --dt "$TMP/counts.json" --iou bbox
for f in neg size counts; do
  [[ $("$ENGINE" coco-eval --gt "$TMP/gt.json" --dt "$TMP/$f.json" --iou bbox 2>&1 >/dev/null | wc -l) -eq 1 ]] || fail "$f.json: more than one line"
done
[[ $(wc -l <"$TMP/err") -eq 1 ]] || fail "expected one stderr line, got: $(cat "$TMP/err")"
expect_error "--iou 'mask': expected bbox or segm" "$ENGINE" coco-eval --gt "$TMP/gt.json" --dt "$TMP/dt.json" --iou mask
expect_error "missing.json: cannot open" "$ENGINE" coco-eval --gt "$TMP/missing.json" --dt "$TMP/dt.json"
echo "coco-eval: ok"
