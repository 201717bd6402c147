# The report as a reader meets it: a small real experiment on Fashion-MNIST (classifier, FeatJND,
# Gaussian noise, the three quantizers and an inspect stage), its figures, and the HTML page opened
# in headless Chromium: the page's own self-test filters, sorts and narrows the runs table, and
# reports its tables, figures, images and any script error. The quantizers run as codecs, so the
# rate-accuracy figure and table are there too.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
cat >spec.json <<'JSON'
{"name": "html", "seed": 0, "devices": ["cpu"],
 "components": {
   "backbone": {"plugin": "resnet", "params": {"arch": "resnet18", "width": 4, "stem": "small", "in_channels": 1}},
   "task": {"plugin": "classification", "params": {"train_samples": 512, "eval_samples": 256, "epochs": 1, "batch_size": 64}},
   "featjnd": {"plugin": "featjnd", "params": {"lambda": 0.1, "fit_samples": 256, "width": 8, "blocks": 1, "lr": 0.001}},
   "featjnd-inspect": {"plugin": "featjnd", "params": {"alpha": 1.0}},
   "gaussian": {"plugin": "gaussian"},
   "quant-featjnd": {"plugin": "quant-featjnd", "params": {"codec": true}},
   "quant-random": {"plugin": "quant-random", "params": {"codec": true}},
   "quant-uniform": {"plugin": "quant-uniform", "params": {"codec": true}}},
 "stages": [
   {"name": "prepare", "type": "prepare", "backbone": "backbone", "task": "task"},
   {"name": "fit", "type": "fit", "after": "prepare", "distortion": "featjnd"},
   {"name": "eval-featjnd", "type": "evaluate", "after": "fit", "distortion": "featjnd"},
   {"name": "eval-gaussian", "type": "evaluate", "after": "prepare", "distortion": "gaussian"},
   {"name": "eval-quant-featjnd", "type": "evaluate", "after": "fit", "distortion": "quant-featjnd"},
   {"name": "eval-quant-random", "type": "evaluate", "after": "fit", "distortion": "quant-random"},
   {"name": "eval-quant-uniform", "type": "evaluate", "after": "prepare", "distortion": "quant-uniform"},
   {"name": "inspect", "type": "inspect", "after": "fit", "distortion": "featjnd-inspect", "params": {"images": 2, "ig_steps": 8}}],
 "sweep": {"featjnd": {"alpha": [0.5, 2]}, "gaussian": {"sigma": [0.5, 2], "seed": [0, 1]},
           "quant-featjnd": {"sigma_q": [0.4, 1.6]}, "quant-random": {"sigma_q": [0.4, 1.6], "seed": [0, 1]},
           "quant-uniform": {"sigma_q": [0.4, 1.6]}}}
JSON
"$ENGINE" run spec.json --db "$TMP/h.db" >"$TMP/run.log" 2>&1 || { tail -20 "$TMP/run.log"; fail "the experiment did not run"; }
[[ $(sql "$TMP/h.db" "SELECT count(*) FROM runs WHERE status='finished'") -eq 17 ]] || fail "expected 17 finished runs"
# Inspection: 2 images, each with its image, tolerance map and four attribution maps, and metrics.
[[ $(sql "$TMP/h.db" "SELECT count(*) FROM artifacts WHERE name LIKE '%.png'") -eq 12 ]] || fail "expected 12 PNG artifacts"
[[ $(sql "$TMP/h.db" "SELECT count(*) FROM metrics WHERE key='inspect.spearman'") -eq 2 ]] || fail "no Spearman per image"

"$ENGINE" figures "$TMP/h.db" --out "$TMP/figs" >"$TMP/figs.log" 2>&1 || { cat "$TMP/figs.log"; fail "figures failed"; }
for f in fig4_resnet18-split-layer4 fig7_attribution fig8_resnet18-split-layer4 fig9_tolerance fig10_resnet18-split-layer4 \
         fig12_resnet18-split-layer4 fig13_resnet18-split-layer4 rate_resnet18-split-layer4; do
  [[ -s "$TMP/figs/$f.png" && -s "$TMP/figs/$f.pdf" ]] || { ls "$TMP/figs"; cat "$TMP/figs.log"; fail "missing $f"; }
done
grep -q "not made: fig5: no detection evaluations" "$TMP/figs.log" || { cat "$TMP/figs.log"; fail "figures does not say why Fig. 5 is missing"; }

"$ENGINE" report "$TMP/h.db" --html "$TMP/report.html" >"$TMP/html.log" 2>&1 || { cat "$TMP/html.log"; fail "report --html failed"; }
[[ -s "$TMP/report.html" ]] || fail "no page"
! grep -q "file://\|http://\|https://" "$TMP/report.html" || fail "the page refers to something outside itself"
chrome=(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
        --disable-component-update --disable-sync --user-data-dir="$TMP/chrome" --virtual-time-budget=10000)
timeout 120 "${chrome[@]}" --enable-logging=stderr --v=0 --dump-dom "file://$TMP/report.html#selftest" >"$TMP/dom.html" 2>"$TMP/chrome.log" ||
  { tail -5 "$TMP/chrome.log"; fail "chromium could not render the page"; }
/usr/bin/python3 - "$TMP/dom.html" <<'PY' || fail "the page's self-test failed"
import re, sys
dom = open(sys.argv[1]).read()
m = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
assert m, "no self-test output"
lines = m.group(1).split("\n")
print("\n".join(lines))
assert all(not l.startswith("FAIL") for l in lines), "a check failed"
assert sum(l.startswith("ok") for l in lines) == 4, "missing checks"
counts = dict(re.findall(r"(figures|tables|images) (\d+)", m.group(1)))
assert int(counts["figures"]) >= 7 and int(counts["tables"]) >= 5 and int(counts["images"]) == 12, counts
assert "Table 2" in dom and "FeatJND-based" in dom, "no Table 2"
assert "BD-rate of quant-featjnd against quant-uniform" in dom and "bits/element" in dom, "no rate-accuracy table"
assert len(re.findall(r"<tr>", dom)) > 17, "the runs table is not there"
PY
! grep -E "Uncaught|CONSOLE.*[Ee]rror" "$TMP/chrome.log" || fail "the page logged errors"
timeout 120 "${chrome[@]}" --window-size=1300,2400 --screenshot="$TMP/page.png" "file://$TMP/report.html" >/dev/null 2>&1
[[ $(stat -c %s "$TMP/page.png") -gt 50000 ]] || fail "the screenshot is empty"
echo "html report: ok"
