#!/usr/bin/env python3
"""featjnd-engine coco-eval against pycocotools and faster-coco-eval: the 12 statistics, and the time each takes.

  tools/bench/coco_eval_bench.py [--engine build/featjnd-engine] [--images 500] [--seed 0] [--out DIR]

Writes a seeded COCO-format pair (ground truth with polygons, several-part polygons, uncompressed-
RLE crowd regions; detections with compressed-RLE masks, jittered boxes, false positives and tied
scores), then evaluates bbox, segm with box-carrying results (areas from the boxes, as
COCO.loadRes sets them) and segm with mask-only results. The peers, where they import (the
project's .venv has both): pycocotools (the reference) and faster-coco-eval (its C++ core, the
fastest evaluator users pick). For each, the statistics are compared (max |difference|) and the
in-process times of the whole evaluation (reading the files included) are reported with their
ratio, and the ratio against our whole process (start-up included); for pycocotools also process
against process. Times are the minimum / median of --repeat runs.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coco_synthetic import make  # noqa: E402


def run_pycocotools(gt_path, dt_path, iou):
    import contextlib
    import io
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(dt_path)
        e = COCOeval(gt, dt, iou)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return list(e.stats), time.perf_counter() - t0


def run_faster_coco_eval(gt_path, dt_path, iou):
    """faster-coco-eval (C++ core), in process, reading included; it logs instead of printing."""
    import contextlib
    import io
    import logging
    from faster_coco_eval import COCO, COCOeval_faster
    logging.getLogger("faster_coco_eval").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        e = COCOeval_faster(gt, gt.loadRes(dt_path), iouType=iou)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return list(e.stats), time.perf_counter() - t0


def pycocotools_process(gt_path, dt_path, iou):
    """The wall time of a whole Python process that evaluates with pycocotools (interpreter start
    and imports included), the peer of our whole process."""
    code = ("import sys, contextlib, io\nfrom pycocotools.coco import COCO\nfrom pycocotools.cocoeval import COCOeval\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    gt = COCO(sys.argv[1]); e = COCOeval(gt, gt.loadRes(sys.argv[2]), sys.argv[3])\n"
            "    e.evaluate(); e.accumulate(); e.summarize()\n")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, gt_path, dt_path, iou], check=True, env=os.environ)
    return time.perf_counter() - t0


def median(values):
    v = sorted(values)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2


def run_engine(engine, gt_path, dt_path, iou):
    """Returns the stats, the in-process time (reading + evaluation, as the engine reports it on
    stderr; comparable with pycocotools' in-process time) and the whole process's wall time, which
    adds the executable's start."""
    t0 = time.perf_counter()
    p = subprocess.run([engine, "coco-eval", "--gt", gt_path, "--dt", dt_path, "--iou", iou, "--json"],
                       check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    m = re.search(r"read ([0-9.]+) s, evaluated ([0-9.]+) s", p.stderr)
    return json.loads(p.stdout)["stats"], float(m.group(1)) + float(m.group(2)), wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", default=os.path.join(os.path.dirname(__file__), "..", "..", "build", "featjnd-engine"))
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/featjnd-coco-bench")
    ap.add_argument("--repeat", type=int, default=10, help="timings per case (min and median are printed)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gt, dets_box, dets_mask = make(args.images, args.seed)
    paths = {}
    for name, obj in (("gt", gt), ("dt_box", dets_box), ("dt_mask", dets_mask)):
        paths[name] = os.path.join(args.out, name + ".json")
        with open(paths[name], "w") as f:
            json.dump(obj, f)
    print(f"{len(gt['images'])} images, {len(gt['annotations'])} ground-truth objects "
          f"({sum(a['iscrowd'] for a in gt['annotations'])} crowd), {len(dets_box)} detections")
    peers = {}
    for name, module, fn in (("pycocotools", "pycocotools", run_pycocotools),
                             ("faster-coco-eval", "faster_coco_eval", run_faster_coco_eval)):
        try:
            __import__(module)
            peers[name] = fn
        except ImportError:
            print(f"{name} not importable: left out")
    worst = {name: 0.0 for name in peers}
    for label, dt, iou in (("bbox", "dt_box", "bbox"), ("segm, box-carrying results", "dt_box", "segm"),
                           ("segm, mask-only results", "dt_mask", "segm")):
        runs = [run_engine(args.engine, paths["gt"], paths[dt], iou) for _ in range(args.repeat)]
        ours = runs[0][0]
        t_ours, wall = [r[1] for r in runs], [r[2] for r in runs]
        print(f"{label}: featjnd-engine in process {min(t_ours):6.3f} / {median(t_ours):6.3f} s, whole process "
              f"{min(wall):6.3f} / {median(wall):6.3f} s  AP {ours[0]:.4f}")
        for name, fn in peers.items():
            refs = [fn(paths["gt"], paths[dt], iou) for _ in range(args.repeat)]
            ref, t_ref = refs[0][0], [r[1] for r in refs]
            diff = max(abs(a - b) for a, b in zip(ours, ref))
            worst[name] = max(worst[name], diff)
            line = (f"  {name:17s} in process {min(t_ref):6.3f} / {median(t_ref):6.3f} s  AP {ref[0]:.4f}  "
                    f"max |diff| {diff:.2e} | ours faster in process {min(t_ref) / min(t_ours):4.1f}x / "
                    f"{median(t_ref) / median(t_ours):4.1f}x, our whole process against it in process "
                    f"{min(t_ref) / min(wall):4.1f}x / {median(t_ref) / median(wall):4.1f}x")
            if name == "pycocotools":
                ref_wall = [pycocotools_process(paths["gt"], paths[dt], iou) for _ in range(args.repeat)]
                line += (f", process against process ({min(ref_wall):5.2f} / {median(ref_wall):5.2f} s) "
                         f"{min(ref_wall) / min(wall):4.1f}x / {median(ref_wall) / median(wall):4.1f}x")
            print(line)
    for name, w in worst.items():
        print(f"largest difference from {name} over the 36 statistics: {w:.2e}")
    return 0 if worst.get("pycocotools", 0.0) <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
