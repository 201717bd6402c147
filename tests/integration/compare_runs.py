"""Two exported databases (featjnd-engine export --format json) hold the same runs: same content
hashes, stages, labels, statuses, parameters and metrics (within 1e-6 relative)."""
import json
import math
import sys


def load(path):
    return {r["config_hash"]: r for r in json.load(open(path))}


a_runs, b_runs = load(sys.argv[1]), load(sys.argv[2])
assert set(a_runs) == set(b_runs), (len(a_runs), len(b_runs))
for h, a in b_runs.items():
    b = a_runs[h]
    for k in ("stage", "label", "status", "params"):
        assert a[k] == b[k], (k, a[k], b[k])
    assert set(a["metrics"]) == set(b["metrics"]), (a["metrics"].keys(), b["metrics"].keys())
    for k, v in a["metrics"].items():
        assert math.isclose(v, b["metrics"][k], rel_tol=1e-6, abs_tol=1e-9), (h, k, v, b["metrics"][k])
print("same runs:", len(b_runs))
