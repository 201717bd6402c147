"""A seeded COCO-format pair for testing and timing COCO evaluators (no pycocotools needed).

make(n_images, seed) -> (ground truth, box-carrying detections, mask-only detections): ground truth
with polygons, several-part polygons and uncompressed-RLE crowd regions; detections with
compressed-RLE masks, jittered boxes, wrong categories, false positives and tied scores. Used by
tools/bench/coco_eval_bench.py and tests/tools/test_coco_oracle.py.
"""
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
