# The paper's ImageNet and COCO experiments validate and dry-run here; run for real without the data or
# weights they stop at once, naming the missing path, and write nothing.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
for spec in fig4_classification fig8_alpha fig10_quant_classification; do
  out=$("$ENGINE" run "$SOURCE_DIR/experiments/$spec.json" --dry-run) || fail "$spec does not validate"
  contains "$out" "6 prepare"
  expect_error "does not exist" "$ENGINE" run "$SOURCE_DIR/experiments/$spec.json" --devices cpu
  grep -qE "weights/(resnet(18|34|50)|swin_[tsb]).safetensors|data/imagenet" "$TMP/err" || { cat "$TMP/err"; fail "$spec: the error does not name the path"; }
  [[ ! -e results ]] || fail "$spec wrote results although its inputs are missing"
done
for spec in fig5_detection fig6_segmentation; do
  out=$("$ENGINE" run "$SOURCE_DIR/experiments/$spec.json" --dry-run) || fail "$spec does not validate"
  contains "$out" "6 prepare"
  expect_error "does not exist" "$ENGINE" run "$SOURCE_DIR/experiments/$spec.json" --devices cpu
  grep -qE "weights/(maskrcnn_r50|mrcnn_(swin_[ts]|pvt_v2_b[123])).safetensors|data/coco" "$TMP/err" || { cat "$TMP/err"; fail "$spec: the error does not name the path"; }
  [[ ! -e results ]] || fail "$spec wrote results although its inputs are missing"
done
out=$("$ENGINE" run "$SOURCE_DIR/experiments/quickstart_detection.json" --dry-run)
contains "$out" "1 prepare, 1 fit"
out=$("$ENGINE" run "$SOURCE_DIR/experiments/quickstart.json" --dry-run)
contains "$out" "1 prepare, 2 fit"
echo "paper specs: ok"
