#!/usr/bin/env python3
"""The engine's BD-rate against an independent one: SciPy's PchipInterpolator of log-rate against
accuracy and its exact integral (PchipInterpolator.integrate), on curves the hand-computed unit cases
do not cover — curved, non-uniformly spaced, crossing, and non-monotonic ones (an accuracy reached
at two rates keeps the lower log-rate, as the engine documents), over the whole shared range and
over a high-accuracy range cut below — within 1e-6 (percent).

  test_bd_rate_oracle.py BD_RATE_CLI      (tests/tools/bd_rate_cli.cpp: the engine's bd_rate)
"""
import json
import math
import subprocess
import sys
import tempfile

import numpy as np
from scipy.interpolate import PchipInterpolator


def scipy_bd_rate(anchor, test, start=-math.inf):
    def curve(points):
        best = {}
        for rate, acc in points:
            best[acc] = min(best.get(acc, math.inf), math.log(rate))
        accs = sorted(best)
        return np.array(accs), np.array([best[a] for a in accs])
    xa, ya = curve(anchor)
    xt, yt = curve(test)
    lo, hi = max(xa[0], xt[0], start), min(xa[-1], xt[-1])
    avg = (PchipInterpolator(xt, yt).integrate(lo, hi) - PchipInterpolator(xa, ya).integrate(lo, hi)) / (hi - lo)
    return 100 * (math.exp(avg) - 1)


CASES = {
    "curved": ([(0.05, 0.31), (0.11, 0.52), (0.3, 0.66), (0.9, 0.71), (2.5, 0.735)],
               [(0.04, 0.36), (0.08, 0.55), (0.2, 0.68), (0.7, 0.72), (2.0, 0.74)]),
    "uneven": ([(0.01, 0.10), (0.013, 0.12), (0.5, 0.60), (0.52, 0.61), (4.0, 0.70)],
               [(0.02, 0.15), (0.3, 0.50), (0.31, 0.505), (3.0, 0.69), (3.1, 0.695)]),
    "crossing": ([(0.1, 0.40), (0.2, 0.55), (0.4, 0.63), (0.8, 0.67)],
                 [(0.05, 0.30), (0.15, 0.52), (0.5, 0.66), (1.2, 0.70)]),
    "non-monotonic": ([(0.1, 0.40), (0.2, 0.55), (0.35, 0.53), (0.4, 0.63), (0.8, 0.67)],
                      [(0.12, 0.45), (0.25, 0.58), (0.45, 0.64), (0.9, 0.69), (1.0, 0.69)]),
    "a tie in accuracy": ([(0.1, 0.4), (0.2, 0.5), (0.3, 0.5), (0.5, 0.6), (0.9, 0.7)],
                          [(0.08, 0.42), (0.15, 0.5), (0.4, 0.61), (0.7, 0.66), (0.8, 0.72)]),
}

# The high-accuracy range: the same curves, the average taken only above a cut.
CUTS = {"curved": 0.65, "crossing": 0.6, "uneven": 0.55}
for name, cut in CUTS.items():
    CASES[f"{name}, above {cut}"] = CASES[name] + (cut,)

with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
    json.dump({"cases": [dict({"anchor": c[0], "test": c[1]}, **({"from": c[2]} if len(c) > 2 else {}))
                         for c in CASES.values()]}, f)
    f.flush()
    ours = json.loads(subprocess.run([sys.argv[1], f.name], check=True, capture_output=True, text=True).stdout)
failures = []
for (name, case), got in zip(CASES.items(), ours):
    ref = scipy_bd_rate(*case)
    ok = got["percent"] is not None and abs(got["percent"] - ref) <= 1e-6
    print(f"{'ok  ' if ok else 'FAIL'} {name}: engine {got['percent']} %, SciPy PCHIP {ref:.10f} %")
    if not ok:
        failures.append(name)
sys.exit(1 if failures else 0)
