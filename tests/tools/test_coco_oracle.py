#!/usr/bin/env python3
"""featjnd-engine coco-eval against pycocotools itself, run here: every statistic, every IoU type.

  test_coco_oracle.py ENGINE

On a seeded COCO pair (tools/bench/coco_synthetic.py: polygons, several-part polygons, crowd
RLE, compressed-RLE detections, wrong categories, false positives, tied scores), the 12 summary
statistics of bbox, segm with box-carrying results and segm with mask-only results must equal
pycocotools' COCOeval within 1e-12, and each category's AP (--per-category) must equal the one
computed from COCOeval's precision array. faster-coco-eval is run as well and its largest
difference from pycocotools printed (it is a peer, not the reference). Fails when pycocotools
cannot be imported.
"""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "bench"))
from coco_synthetic import make  # noqa: E402

from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

TOLERANCE = 1e-12


def pycocotools_eval(gt_path, dt_path, iou):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        e = COCOeval(gt, gt.loadRes(dt_path), iou)
        e.evaluate()
        e.accumulate()
        e.summarize()
    # Per category: AP over IoU thresholds, all areas, 100 detections, as the summary computes it.
    per_cat = {}
    for k, cat in enumerate(e.params.catIds):
        p = e.eval["precision"][:, :, k, 0, -1]
        p = p[p > -1]
        per_cat[cat] = float(np.mean(p)) if p.size else -1.0
    return list(e.stats), per_cat


def faster_eval(gt_path, dt_path, iou):
    import logging
    from faster_coco_eval import COCO as FCOCO, COCOeval_faster
    logging.getLogger("faster_coco_eval").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = FCOCO(gt_path)
        e = COCOeval_faster(gt, gt.loadRes(dt_path), iouType=iou)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return list(e.stats)


def engine_eval(engine, gt_path, dt_path, iou):
    out = subprocess.run([engine, "coco-eval", "--gt", gt_path, "--dt", dt_path, "--iou", iou, "--json",
                          "--per-category"], check=True, capture_output=True, text=True).stdout
    doc = json.loads(out)
    return doc["stats"], dict(zip(doc["categories"], doc["ap_per_category"]))


def main():
    engine = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        gt, dets_box, dets_mask = make(300, 11)
        paths = {}
        for name, obj in (("gt", gt), ("dt_box", dets_box), ("dt_mask", dets_mask)):
            paths[name] = os.path.join(tmp, name + ".json")
            with open(paths[name], "w") as f:
                json.dump(obj, f)
        for label, dt, iou in (("bbox", "dt_box", "bbox"), ("segm (box-carrying)", "dt_box", "segm"),
                               ("segm (mask-only)", "dt_mask", "segm")):
            ours, ours_cat = engine_eval(engine, paths["gt"], paths[dt], iou)
            ref, ref_cat = pycocotools_eval(paths["gt"], paths[dt], iou)
            diff = max(abs(a - b) for a, b in zip(ours, ref))
            cat_diff = max(abs(ours_cat[c] - ref_cat[c]) for c in ref_cat)
            fast = faster_eval(paths["gt"], paths[dt], iou)
            fast_diff = max(abs(a - b) for a, b in zip(fast, ref))
            print(f"{label}: AP {ours[0]:.6f}, max |ours - pycocotools| {diff:.2e} over 12 statistics, "
                  f"{cat_diff:.2e} over {len(ref_cat)} categories' AP; faster-coco-eval - pycocotools {fast_diff:.2e}")
            if len(ours) != 12 or diff > TOLERANCE or cat_diff > TOLERANCE or set(ours_cat) != set(ref_cat):
                failures.append(label)
            if not (0.05 < ref[0] < 0.95):  # a pair on which AP is 0 or 1 would compare little
                failures.append(f"{label}: AP {ref[0]} leaves the comparison weak")
    if failures:
        print("FAIL: coco-eval differs from pycocotools:", "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
