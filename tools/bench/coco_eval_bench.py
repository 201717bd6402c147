#!/usr/bin/python3
"""featjnd-engine coco-eval against pycocotools: the same 12 statistics, and the time each takes.

  tools/bench/coco_eval_bench.py [--engine build/featjnd-engine] [--images 500] [--seed 0] [--out DIR]

Writes a seeded COCO-format pair (ground truth with polygons, several-part polygons, uncompressed-
RLE crowd regions; detections with compressed-RLE masks, jittered boxes, false positives and tied
scores), then evaluates bbox, segm with box-carrying results (areas from the boxes, as
COCO.loadRes sets them) and segm with mask-only results. pycocotools is optional: where it
imports (PYTHONPATH), the statistics are compared (max |difference|) and the in-process times of
the whole evaluation (reading the files included) are reported with their ratio, and the ratio
against our whole process (start-up included); without it only our times print. Times are the
minimum / median of --repeat runs.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np


def rle_encode(mask):
    """Column-major runs starting with a zero run (pycocotools' layout)."""
    flat = mask.flatten(order="F").astype(np.uint8)
    counts, value, run = [], 0, 0
    for v in flat:
        if v != value:
            counts.append(run)
            run, value = 0, v
        run += 1
    counts.append(run)
    return counts


def rle_compress(counts):
    """COCO's compressed string (maskApi.c rleToString)."""
    out = []
    for i, c in enumerate(counts):
        x = c - (counts[i - 2] if i > 2 else 0)
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def polygon(rng, cx, cy, r, n):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.6, 1.0, n)
    return np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)


def fill(poly, h, w):
    """Even-odd fill at pixel centres: a detection's own mask (any rasteriser will do)."""
    ys, xs = np.mgrid[0:h, 0:w]
    px, py = xs + 0.5, ys + 0.5
    inside = np.zeros((h, w), bool)
    x, y = poly[:, 0], poly[:, 1]
    for i in range(len(poly)):
        x0, y0, x1, y1 = x[i - 1], y[i - 1], x[i], y[i]
        cond = ((y0 > py) != (y1 > py)) & (px < (x1 - x0) * (py - y0) / (y1 - y0 + 1e-12) + x0)
        inside ^= cond
    return inside


def make(n_images, seed):
    rng = np.random.default_rng(seed)
    images, anns, dets_box, dets_mask = [], [], [], []
    cats = [{"id": c, "name": f"c{c}"} for c in (1, 2, 3, 5, 8)]
    aid = 1
    for i in range(1, n_images + 1):
        h, w = int(rng.integers(96, 200)), int(rng.integers(96, 200))
        images.append({"id": i, "height": h, "width": w, "file_name": f"{i}.jpg"})
        for _ in range(int(rng.integers(0, 8))):
            cat = int(rng.choice([1, 2, 3, 5, 8]))
            r = float(rng.choice([6, 15, 40, 70]) * rng.uniform(0.7, 1.3))
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            poly = polygon(rng, cx, cy, r, int(rng.integers(3, 12)))
            poly[:, 0] = poly[:, 0].clip(0, w)
            poly[:, 1] = poly[:, 1].clip(0, h)
            crowd = rng.random() < 0.05
            mask = fill(poly, h, w)
            if mask.sum() == 0:
                continue
            ys, xs = np.nonzero(mask)
            box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
            if crowd:
                seg = {"size": [h, w], "counts": rle_encode(mask)}
            elif rng.random() < 0.2:  # two parts
                seg = [poly.flatten().round(2).tolist(), (poly * 0.5 + [[2, 2]]).flatten().round(2).tolist()]
            else:
                seg = [poly.flatten().round(2).tolist()]
            anns.append({"id": aid, "image_id": i, "category_id": cat, "bbox": box, "area": float(mask.sum()),
                         "iscrowd": int(crowd), "segmentation": seg})
            aid += 1
            for _ in range(int(rng.integers(0, 3))):  # detections of this object
                shift = rng.normal(0, r * 0.05, 2)
                centre = poly.mean(0)
                dpoly = (poly - centre) * rng.uniform(0.93, 1.07) + centre + shift
                dmask = fill(dpoly, h, w)
                if dmask.sum() == 0:
                    continue
                ys, xs = np.nonzero(dmask)
                dbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
                score = round(float(rng.uniform(0.05, 1.0)), 2)  # rounded: ties happen
                dcat = cat if rng.random() < 0.9 else int(rng.choice([1, 2, 3, 5, 8]))
                seg = {"size": [h, w], "counts": rle_compress(rle_encode(dmask))}
                dets_box.append({"image_id": i, "category_id": dcat, "bbox": dbox, "score": score, "segmentation": seg})
                dets_mask.append({"image_id": i, "category_id": dcat, "score": score, "segmentation": seg})
        for _ in range(int(rng.integers(0, 4))):  # false positives
            dpoly = polygon(rng, rng.uniform(0, w), rng.uniform(0, h), float(rng.uniform(5, 50)), 6)
            dmask = fill(dpoly, h, w)
            if dmask.sum() == 0:
                continue
            ys, xs = np.nonzero(dmask)
            dbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
            score = round(float(rng.uniform(0.05, 1.0)), 2)
            cat = int(rng.choice([1, 2, 3, 5, 8]))
            seg = {"size": [h, w], "counts": rle_compress(rle_encode(dmask))}
            dets_box.append({"image_id": i, "category_id": cat, "bbox": dbox, "score": score, "segmentation": seg})
            dets_mask.append({"image_id": i, "category_id": cat, "score": score, "segmentation": seg})
    return {"images": images, "annotations": anns, "categories": cats}, dets_box, dets_mask


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
    try:
        import pycocotools  # noqa: F401
        have_ref = True
    except ImportError:
        have_ref = False
        print("pycocotools not importable: timing featjnd-engine alone")
    worst = 0.0
    for label, dt, iou in (("bbox", "dt_box", "bbox"), ("segm, box-carrying results", "dt_box", "segm"),
                           ("segm, mask-only results", "dt_mask", "segm")):
        runs = [run_engine(args.engine, paths["gt"], paths[dt], iou) for _ in range(args.repeat)]
        ours = runs[0][0]
        t_ours, wall = [r[1] for r in runs], [r[2] for r in runs]
        line = (f"{label:28s} featjnd-engine in process {min(t_ours):6.3f} / {median(t_ours):6.3f} s, whole process "
                f"{min(wall):6.3f} / {median(wall):6.3f} s  AP {ours[0]:.4f}")
        if have_ref:
            refs = [run_pycocotools(paths["gt"], paths[dt], iou) for _ in range(args.repeat)]
            ref, t_ref = refs[0][0], [r[1] for r in refs]
            ref_wall = [pycocotools_process(paths["gt"], paths[dt], iou) for _ in range(args.repeat)]
            diff = max(abs(a - b) for a, b in zip(ours, ref))
            worst = max(worst, diff)
            line += (f" | pycocotools in process {min(t_ref):6.3f} / {median(t_ref):6.3f} s  AP {ref[0]:.4f}"
                     f" | speed-up in process {min(t_ref) / min(t_ours):4.1f}x / {median(t_ref) / median(t_ours):4.1f}x,"
                     f" whole process against pycocotools in process {min(t_ref) / min(wall):4.1f}x /"
                     f" {median(t_ref) / median(wall):4.1f}x, process against process ({min(ref_wall):5.2f} /"
                     f" {median(ref_wall):5.2f} s) {min(ref_wall) / min(wall):4.1f}x / {median(ref_wall) / median(wall):4.1f}x"
                     f" | max |diff| {diff:.2e}")
        print(line)
    if have_ref:
        print(f"largest difference over the 36 statistics: {worst:.2e}")
        return 0 if worst <= 1e-6 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
