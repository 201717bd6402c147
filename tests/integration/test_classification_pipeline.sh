# The quickstart's pipeline end to end on a reduced budget: the real plugins on Fashion-MNIST,
# both splits, every distortion and control, then the report and the figures.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
"$PYTHON" - "$SOURCE_DIR/experiments/quickstart.json" >"$TMP/small.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["name"] = "quickstart-small"
spec["components"]["task"]["params"].update({"train_samples": 3000, "eval_samples": 1000, "epochs": 1})
spec["components"]["featjnd"]["params"].update({"fit_samples": 1000, "width": 16})
spec["sweep"] = {
    "backbone": {"split": ["layer4", "layer3"]},
    "featjnd": {"alpha": [0.5, 4], "mode": ["adaptive", "mean", "shuffled"]},
    "gaussian": {"sigma": [1.6, 25.6], "seed": [0, 1]},
    "quant-featjnd": {"sigma_q": [0.8, 3.2]},
    "quant-random": {"sigma_q": [0.8, 3.2], "seed": [0, 1]},
    "quant-uniform": {"sigma_q": [0.8, 3.2]},
}
json.dump(spec, sys.stdout)
PY
DB="$TMP/small.db"
"$ENGINE" run "$TMP/small.json" --db "$DB" 2>"$TMP/log" || { cat "$TMP/log"; fail "the pipeline failed"; }
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='finished'") == 41 ]] || fail "expected 41 finished runs"
clean=$(sql "$DB" "SELECT MIN(value) FROM metrics WHERE key='clean.top1'")
"$PYTHON" -c "assert float('$clean') > 0.6, 'clean top1 $clean after one epoch on 3000 images'"
# The two splits see different features, from one prepared network.
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE stage='prepare'") == 1 ]] || fail "the network was prepared twice"
[[ $(sql "$DB" "SELECT COUNT(DISTINCT ROUND(m.value, 9)) FROM metrics m JOIN params p ON p.run_id=m.run_id WHERE m.key='nrmse' AND p.key='featjnd.alpha' AND p.value=0.5 AND m.run_id IN (SELECT run_id FROM params WHERE key='featjnd.mode' AND value='adaptive')") == 2 ]] ||
  fail "both splits gave the same FeatJND NRMSE"
# Quantization at a large budget zeroes features: measured NRMSE stays at or below 1.
"$PYTHON" -c "assert float('$(sql "$DB" "SELECT MAX(m.value) FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.stage LIKE 'eval-quant%' AND m.key='nrmse'")') <= 1.0 + 1e-6"

"$ENGINE" report "$DB" >"$TMP/report.txt"
for section in "against Gaussian noise at matched NRMSE" "Calibration: drop from clean top-1" "Controls" \
               "Token-wise quantization" "split=layer3" "split=layer4"; do
  grep -qF "$section" "$TMP/report.txt" || { cat "$TMP/report.txt"; fail "report lacks: $section"; }
done
# Table 2 from the same runs, in every format; the LaTeX compiles as a table.
"$ENGINE" report "$DB" --table2 >"$TMP/t2.txt" || fail "report --table2 failed"
for row in "FeatJND-based" "Random" "Δ" "Uniform" "resnet18 split=layer3"; do
  grep -qF "$row" "$TMP/t2.txt" || { cat "$TMP/t2.txt"; fail "Table 2 lacks: $row"; }
done
"$ENGINE" report "$DB" --table2 --format json | "$PYTHON" -c "
import json, sys
t = json.load(sys.stdin)['table2']
assert [b['task'] for b in t] == ['classification'], t
assert len(t[0]['columns']) == 2 and len(t[0]['rows']) == 2, t[0]['columns']
assert all(c['random']['n'] == 2 for r in t[0]['rows'] for c in r['cells'])" || fail "Table 2 JSON"
[[ $("$ENGINE" report "$DB" --table2 --format csv | wc -l) -eq $((1 + 2 * 2 * 4)) ]] || fail "Table 2 CSV rows"
"$ENGINE" report "$DB" --table2 --format md | grep -q "^| 0.8 | FeatJND-based |" || fail "Table 2 markdown"
{ echo '\documentclass{article}\begin{document}'; "$ENGINE" report "$DB" --table2 --format latex; echo '\end{document}'; } >"$TMP/t2.tex"
(cd "$TMP" && pdflatex -interaction=nonstopmode -halt-on-error t2.tex >"$TMP/latex.log" 2>&1) || { tail -20 "$TMP/latex.log"; fail "the LaTeX Table 2 does not compile"; }
"$ENGINE" report "$DB" --format json | "$PYTHON" -c "
import json, sys
a = json.load(sys.stdin)['analyses']['top1']
assert a['metric'] == 'top1' and len(a['groups']) == 2, a['varying']
assert all(g['quantization'] and g['matched_nrmse'] for g in a['groups'])" || fail "report JSON"
"$ENGINE" figures "$DB" --out "$TMP/figures" >/dev/null || fail "figures failed"
for fig in fig4 fig8 fig10 fig12 fig13; do
  for split in layer3 layer4; do
    ls "$TMP/figures/${fig}_"*"${split}"*.png >/dev/null 2>&1 || fail "missing ${fig} for ${split}"
    ls "$TMP/figures/${fig}_"*"${split}"*.pdf >/dev/null 2>&1 || fail "missing ${fig} PDF for ${split}"
  done
done
echo "classification pipeline: ok"
