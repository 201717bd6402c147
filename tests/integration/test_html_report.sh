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
           "quant-featjnd": {"sigma_q": [0.2, 0.4, 0.8, 1.6]}, "quant-random": {"sigma_q": [0.2, 0.4, 0.8, 1.6], "seed": [0, 1]},
           "quant-uniform": {"sigma_q": [0.2, 0.4, 0.8, 1.6]}}}
JSON
"$ENGINE" run spec.json --db "$TMP/h.db" >"$TMP/run.log" 2>&1 || { tail -20 "$TMP/run.log"; fail "the experiment did not run"; }
[[ $(sql "$TMP/h.db" "SELECT count(*) FROM runs WHERE status='finished'") -eq 25 ]] || fail "expected 25 finished runs"
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
timeout 120 "${chrome[@]}" --enable-logging=stderr --v=0 --dump-dom "file://$TMP/report.html#selftest=eval-quant-random" \
  >"$TMP/dom.html" 2>"$TMP/chrome.log" || { tail -5 "$TMP/chrome.log"; fail "chromium could not render the page"; }
# The page reports what it shows; every expectation comes from the database (SQL) or, for the
# BD-rate, from SciPy's PCHIP over the runs' own bpp and top-1 — never from the page's code.
"$PYTHON" - "$TMP/dom.html" "$TMP/h.db" <<'PY' || fail "the page does not show what the database holds"
import json, math, re, sqlite3, sys
import numpy as np
from scipy.interpolate import PchipInterpolator
dom, db = open(sys.argv[1]).read(), sqlite3.connect(sys.argv[2])
m = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
assert m, "no self-test output"
report = dict(re.match(r"(filter|varying columns|sorted ids|rate notes|figures|ok no script|FAIL)(.*)", l).groups()
              for l in m.group(1).split("\n")[1:] if l)
print("\n".join(m.group(1).split("\n")))
assert "FAIL" not in report, report.get("FAIL")
ids = lambda q: [r[0] for r in db.execute(q)]
shown = json.loads(report["filter"].split(" ids ", 1)[1])
assert shown == ids("SELECT id FROM runs WHERE stage = 'eval-quant-random' ORDER BY id"), ("filter", shown)
assert json.loads(report["sorted ids"]) == ids("SELECT id FROM runs ORDER BY id DESC"), "sort by id descending"
varying = sorted(k for (k,) in db.execute("SELECT key FROM params GROUP BY key HAVING COUNT(DISTINCT value) > 1"))
metrics = sorted(k for (k,) in db.execute("SELECT DISTINCT key FROM metrics WHERE step = 0"))  # summaries, not curves
cols = json.loads(report["varying columns"])
assert cols == ["id", "stage", "status", "label", "seconds"] + varying + metrics, ("varying only", cols, varying)
def curve(stage):  # (mean bpp, mean top-1) per budget, seeds averaged
    rows = db.execute(f"""SELECT p.value, AVG(b.value), AVG(t.value) FROM runs r JOIN params p ON p.run_id = r.id
        JOIN metrics b ON b.run_id = r.id AND b.key = 'codec.bpp' JOIN metrics t ON t.run_id = r.id AND t.key = 'top1'
        WHERE r.stage = '{stage}' AND p.key LIKE '%.sigma_q' GROUP BY p.value""").fetchall()
    best = {}
    for _, bpp, acc in rows:
        best[acc] = min(best.get(acc, math.inf), math.log(bpp))
    acc = sorted(best)
    return np.array(acc), np.array([best[a] for a in acc])
(xa, ya), (xt, yt) = curve("eval-quant-uniform"), curve("eval-quant-featjnd")
lo, hi = max(xa[0], xt[0]), min(xa[-1], xt[-1])
ref = 100 * (math.exp((PchipInterpolator(xt, yt).integrate(lo, hi) - PchipInterpolator(xa, ya).integrate(lo, hi)) / (hi - lo)) - 1)
notes = " ".join(json.loads(report["rate notes"]))
bd = re.search(r"BD-rate of quant-featjnd against quant-uniform ([-+][0-9.]+) %", notes)
assert bd, ("no BD-rate against quant-uniform on the page", notes)
assert abs(float(bd.group(1)) - ref) <= 0.005 + 1e-9, ("BD-rate", bd.group(1), ref)
counts = dict(re.findall(r"(figures|tables|images) (\d+)", "figures" + report["figures"]))
assert int(counts["figures"]) >= 7 and int(counts["tables"]) >= 5 and int(counts["images"]) == 12, counts
assert "Table 2" in dom and "FeatJND-based" in dom, "no Table 2"
print(f"BD-rate on the page {bd.group(1)} %, SciPy {ref:.4f} %")
PY
! grep -E "Uncaught|CONSOLE.*[Ee]rror" "$TMP/chrome.log" || fail "the page logged errors"
timeout 120 "${chrome[@]}" --window-size=1300,2400 --screenshot="$TMP/page.png" "file://$TMP/report.html" >/dev/null 2>&1
[[ $(stat -c %s "$TMP/page.png") -gt 50000 ]] || fail "the screenshot is empty"

# An interpreter without matplotlib (a bare virtual environment): `figures` fails in one line that
# names it; `report --html` still writes the page, without figures, and says so in one line.
"$PYTHON" -m venv --without-pip "$TMP/bare"
expect_error "cannot import matplotlib" "$ENGINE" figures "$TMP/h.db" --out "$TMP/figs2" --python "$TMP/bare/bin/python"
[[ $(wc -l <"$TMP/err") -eq 1 ]] || { cat "$TMP/err"; fail "figures without matplotlib: more than one line"; }
FEATJND_PYTHON="$TMP/bare/bin/python" "$ENGINE" report "$TMP/h.db" --html "$TMP/bare.html" >/dev/null 2>"$TMP/err" ||
  { cat "$TMP/err"; fail "report --html failed without matplotlib"; }
[[ $(wc -l <"$TMP/err") -eq 1 ]] && grep -q "the page has no figures: $TMP/bare/bin/python could not draw them" "$TMP/err" ||
  { cat "$TMP/err"; fail "report --html did not say, in one line, that it drew no figures"; }
grep -q '<script id="figures" type="application/json">{}</script>' "$TMP/bare.html" || fail "the page without matplotlib has figures?"
expect_error "figures: no figures drawn with /nonexistent/python" "$ENGINE" figures "$TMP/h.db" --python /nonexistent/python
echo "html report: ok"
