# The paper's Table 2 spec (experiments/table2.json) at full size on stand-ins, reduced to one
# classifier (Swin-T at 224) and one detector (Mask R-CNN Swin-T at 800x1333, mmdetection's layout
# through --mmdet, D_det and D_seg), one budget, one seed, a few images: tools/paper_scale_smoke.sh
# --quick. Every run finishes, each run used its weights' recipe, and report --table2 prints every
# cell. Then rate.json the same way: every quantizer in codec mode on the full-size FPN levels.
source "$(dirname "$0")/lib.sh"
ENGINE=$ENGINE PYTHON=$PYTHON bash "$SOURCE_DIR/tools/paper_scale_smoke.sh" --quick "$TMP/paper" >"$TMP/out" 2>&1 ||
  { tail -40 "$TMP/out"; fail "the paper-scale smoke failed"; }
DB=$TMP/paper/table2-smoke.db
# 1 prepare + 1 fit + 3 evaluations (classifier); 1 prepare + 2 fits (D_det, D_seg) + 5 evaluations.
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='finished'") -eq 13 ]] || { tail -40 "$TMP/out"; fail "expected 13 finished runs"; }
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs") -eq 13 ]] || fail "runs other than the 13 expected"
# The images were 800 on the shorter side, the detector's metadata recipe (mmdetection's) was used.
rel=$(sql "$DB" "SELECT a.path FROM artifacts a JOIN runs r ON r.id=a.run_id WHERE r.stage='eval-quant-uniform-det' AND a.name='preprocess.json'")
"$PYTHON" - "$TMP/paper/$rel" <<'PY' || fail "the detector did not use mmdetection's recipe"
import json, sys
r = json.load(open(sys.argv[1]))
assert (r["resize"], r["max_size"], r["size_rounding"], r["antialias"], r["pad_divisor"]) == (800, 1333, "round", False, 32), r
PY
for section in "classification (top-1 %)" "detection (bbox.AP %)" "segmentation (segm.AP %)"; do
  grep -qF "$section" "$TMP/out" || { tail -40 "$TMP/out"; fail "report --table2 lacks $section"; }
done
[[ $(grep -cE "(FeatJND-based|Random|Uniform) +[-+]?[0-9]" "$TMP/out") -eq 9 ]] || { tail -40 "$TMP/out"; fail "Table 2 rows are missing"; }
grep -q "time per stage and model" "$TMP/out" || fail "no per-stage times"

ENGINE=$ENGINE PYTHON=$PYTHON bash "$SOURCE_DIR/tools/paper_scale_smoke.sh" --quick --spec rate "$TMP/paper" >"$TMP/rate" 2>&1 ||
  { tail -40 "$TMP/rate"; fail "the paper-scale smoke of rate.json failed"; }
DB=$TMP/paper/rate-smoke.db
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='finished'") -eq 15 ]] || { tail -40 "$TMP/rate"; fail "expected 15 finished rate runs"; }
# Every evaluation coded its features and decoded them bit for bit (the plugin checks), at a positive rate.
[[ $(sql "$DB" "SELECT COUNT(*) FROM metrics WHERE key='codec.bpp' AND value > 0") -eq 10 ]] || fail "expected 10 codec-mode evaluations"
[[ $(sql "$DB" "SELECT COUNT(*) FROM artifacts WHERE name='bitstream-batch0.fjnc'") -eq 10 ]] || fail "expected 10 kept bitstreams"
echo "paper scale (quick): ok, $(grep -o 'table2.json on the stand-ins: [0-9]* s' "$TMP/out"), $(grep -o 'rate.json on the stand-ins: [0-9]* s' "$TMP/rate")"
