#!/usr/bin/env python3
"""Stand-ins at real size for what the paper's specs read and these machines cannot fetch:
ImageNet, COCO 2017 and the published weights. Deterministic (one seed), nothing committed.

  tools/make_standins.py OUT [--imagenet-val 1] [--imagenet-train 1] [--coco-val 8] [--coco-train 8]
                             [--models swin_t,...|all|none] [--seed 0]

writes, in the layouts the specs expect (run them from OUT, or point --set at it):

  OUT/data/imagenet/{train,val}/<wnid>/*.JPEG
      the 1000 ImageNet synsets (timm's list), --imagenet-val/--imagenet-train images per class
      (for the first --imagenet-classes-with-images classes; every class has its folder),
      JPEGs of ImageNet's common sizes (500x375, 375x500, 500x333, 333x500, 500x500, 640x480, ...):
      Fashion-MNIST items (Debian's dataset-fashion-mnist: real images) scaled up, tinted and
      composited on textured canvases; the class decides the item and the tint
  OUT/data/coco/{val2017,train2017}/<id:012d>.jpg and annotations/instances_{val,train}2017.json
      COCO's 80 categories with their ids, images of COCO's sizes (640x480, 480x640, 640x427, ...)
      holding 1-6 items each, annotated with boxes, areas and polygons (the convex hull of each
      item's visible pixels; later items occlude earlier ones)
  OUT/weights/<model>.safetensors
      random weights of every paper model, exported by tools/export_weights.py from the real model
      definitions: torchvision's Swin-T/S/B and timm's PVTv2-b1/b2/b3 classifiers (with their
      published evaluation transforms), and Mask R-CNN with Swin-T/S and PVTv2-b1/b2/b3 backbones,
      built in mmdetection's key layout (torchvision's Swin or timm's PVTv2, a torchvision FPN and
      Mask R-CNN heads with 80 classes, translated by export_weights' to_mmdet_*) and exported
      with --mmdet as a real mmdetection checkpoint would be
Existing files are kept (a second run only adds what is missing).
"""
import argparse
import gzip
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_weights as ew  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"
IMAGENET_SIZES = [(500, 375), (375, 500), (500, 333), (333, 500), (500, 500), (640, 480), (500, 400), (400, 500)]
COCO_SIZES = [(640, 480), (480, 640), (640, 427), (427, 640), (640, 512), (612, 612), (640, 360)]
CLASSIFIERS = {"swin_t": "--model", "swin_s": "--model", "swin_b": "--model",
               "pvt_v2_b1": "--timm", "pvt_v2_b2": "--timm", "pvt_v2_b3": "--timm"}
DETECTORS = {"mrcnn_swin_t": ("swin", "swin_t"), "mrcnn_swin_s": ("swin", "swin_s"),
             "mrcnn_pvt_v2_b1": ("pvt_v2", "pvt_v2_b1"), "mrcnn_pvt_v2_b2": ("pvt_v2", "pvt_v2_b2"),
             "mrcnn_pvt_v2_b3": ("pvt_v2", "pvt_v2_b3")}


def fashion_items():
    """Fashion-MNIST's training images (60000 x 28 x 28, uint8) and labels, from Debian's files."""
    def idx(name, offset):
        path = os.path.join(FASHION, name)
        if not os.path.exists(path):
            raise SystemExit(f"make_standins: {path} is missing (Debian's dataset-fashion-mnist; tools/install_deps.sh installs it)")
        with gzip.open(path) as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    return idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28), idx("train-labels-idx1-ubyte.gz", 8)


def canvas(rng, w, h):
    """A textured background: a colour gradient, low-frequency noise and fine grain."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(40, 215, 3)
    slope = rng.uniform(-0.15, 0.15, (2, 3))
    img = base + x[..., None] * slope[0] + y[..., None] * slope[1]
    coarse = rng.normal(0, 25, (h // 32 + 2, w // 32 + 2, 3)).astype(np.float32)
    img += np.asarray(Image.fromarray(coarse[..., 0]).resize((w, h), Image.BICUBIC))[..., None] * np.array([1, 0.8, 0.6])
    img += rng.normal(0, 6, (h, w, 3))
    return img


def paste(img, item, x0, y0, size, tint):
    """Composites a Fashion-MNIST item scaled to `size` at (x0, y0); returns its mask in the image."""
    h, w = img.shape[:2]
    big = np.asarray(Image.fromarray(item).resize((size, size), Image.BICUBIC)).astype(np.float32) / 255
    alpha = np.clip(big * 1.6, 0, 1)
    mask = np.zeros((h, w), bool)
    ys, xs = slice(max(y0, 0), min(y0 + size, h)), slice(max(x0, 0), min(x0 + size, w))
    a = alpha[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    img[ys, xs] = img[ys, xs] * (1 - a[..., None]) + (big[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0, None] * tint) * a[..., None]
    mask[ys, xs] = a > 0.5
    return mask


def save_jpeg(img, path):
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=90)


def imagenet(out, per_split, rng, items, labels, with_images=1000):
    import timm.data
    synsets = timm.data.ImageNetInfo().label_names()
    assert len(synsets) == 1000
    by_label = [np.flatnonzero(labels == c) for c in range(10)]
    written = 0
    for split, count in per_split.items():
        for c, wnid in enumerate(synsets):
            d = os.path.join(out, "data", "imagenet", split, wnid)
            os.makedirs(d, exist_ok=True)
            tint = np.array([(c * 37) % 256, (c * 91) % 256, (c * 53) % 256], np.float32)
            for i in range(count if c < with_images else 0):
                path = os.path.join(d, f"{wnid}_{split}_{i:04d}.JPEG")
                w, h = IMAGENET_SIZES[(c + i) % len(IMAGENET_SIZES)]
                img = canvas(rng, w, h)  # drawn even when the file exists: the stream stays the same
                size = int(min(w, h) * rng.uniform(0.5, 0.9))
                x0, y0 = int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1))
                item = items[by_label[c % 10][int(rng.integers(0, len(by_label[c % 10])))]]
                if not os.path.exists(path):
                    paste(img, item, x0, y0, size, tint)
                    save_jpeg(img, path)
                    written += 1
    return written


def coco_categories():
    import torchvision
    names = torchvision.models.detection.MaskRCNN_ResNet50_FPN_Weights.DEFAULT.meta["categories"]
    return [{"id": i, "name": n, "supercategory": "object"} for i, n in enumerate(names) if i > 0 and n != "N/A"]


def polygon_of(mask):
    """The convex hull of a mask's pixels (their corners), as COCO's [x1, y1, x2, y2, ...]."""
    from scipy.spatial import ConvexHull
    ys, xs = np.nonzero(mask)
    pts = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)]).astype(np.float64)
    hull = pts[ConvexHull(pts).vertices]
    return [round(float(v), 2) for v in hull.flatten()]


def coco(out, per_split, rng, items, labels):
    cats = coco_categories()
    written = 0
    next_id = {"val2017": 1, "train2017": 1_000_000}
    for split, count in per_split.items():
        d = os.path.join(out, "data", "coco", split)
        os.makedirs(d, exist_ok=True)
        images, anns, aid = [], [], next_id[split]
        for i in range(count):
            image_id = next_id[split] + i
            w, h = COCO_SIZES[i % len(COCO_SIZES)]
            img = canvas(rng, w, h)
            owner = np.zeros((h, w), np.int32)  # which item each pixel shows (later ones occlude)
            placed = []
            for k in range(int(rng.integers(1, 7))):
                size = int(min(w, h) * rng.uniform(0.12, 0.6))
                x0, y0 = int(rng.integers(-size // 4, w - 3 * size // 4)), int(rng.integers(-size // 4, h - 3 * size // 4))
                label = int(rng.integers(0, 10))
                item = items[np.flatnonzero(labels == label)[int(rng.integers(0, 6000))]]
                cat = cats[(label * 8 + int(rng.integers(0, 8))) % len(cats)]["id"]
                tint = rng.uniform(60, 255, 3).astype(np.float32)
                owner[paste(img, item, x0, y0, size, tint)] = k + 1
                placed.append(cat)
            for k, cat in enumerate(placed):
                mask = owner == k + 1
                if mask.sum() < 16:
                    continue
                ys, xs = np.nonzero(mask)
                anns.append({"id": aid, "image_id": image_id, "category_id": cat, "iscrowd": 0, "area": float(mask.sum()),
                             "bbox": [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)],
                             "segmentation": [polygon_of(mask)]})
                aid += 1
            name = f"{image_id:012d}.jpg"
            images.append({"id": image_id, "file_name": name, "height": h, "width": w})
            if not os.path.exists(os.path.join(d, name)):
                save_jpeg(img, os.path.join(d, name))
                written += 1
        os.makedirs(os.path.join(out, "data", "coco", "annotations"), exist_ok=True)
        with open(os.path.join(out, "data", "coco", "annotations", f"instances_{split}.json"), "w") as f:
            json.dump({"info": {"description": "featjnd-engine COCO stand-in"}, "images": images, "annotations": anns,
                       "categories": cats}, f)
    return written


def mmdet_checkpoint(path, plugin, arch, seed):
    """A Mask R-CNN in mmdetection's key layout from the real model definitions."""
    import torch
    import torchvision
    from torchvision.ops import FeaturePyramidNetwork
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
    torch.manual_seed(seed)
    if plugin == "swin":
        model = getattr(torchvision.models, arch)(weights=None)
        dims = [model.features[2 * i + 1][0].norm1.normalized_shape[0] for i in range(4)]
        body = {k: v for k, v in model.state_dict().items() if not k.startswith(("norm.", "head."))}
        for i, c in enumerate(dims):
            ln = torch.nn.LayerNorm(c)
            body.update({f"norm{i}.{k}": v for k, v in ln.state_dict().items()})
        backbone = dict(ew.to_mmdet_swin_key(k, v) for k, v in body.items())
    else:
        import timm
        model = timm.create_model(arch, pretrained=False)
        dims = [info["num_chs"] for info in model.feature_info]
        backbone = ew.to_mmdet_pvt_v2({k: v for k, v in model.state_dict().items() if not k.startswith("head.")})
    fpn = FeaturePyramidNetwork(dims, 256, extra_blocks=LastLevelMaxPool())
    det = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=81)
    heads = {k: v for k, v in det.state_dict().items() if k.startswith(("rpn.", "roi_heads."))}
    state = {"backbone." + k: v for k, v in backbone.items()}
    state.update(ew.mmdet_neck_keys(fpn.state_dict()))
    state.update(ew.to_mmdet_heads(heads))
    torch.save({"state_dict": state, "meta": {"note": f"featjnd-engine stand-in: random {arch} Mask R-CNN"}}, path)


def weights(out, models, seed):
    os.makedirs(os.path.join(out, "weights"), exist_ok=True)
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "export_weights.py")
    made = []
    for name in models:
        dst = os.path.join(out, "weights", f"{name}.safetensors")
        if os.path.exists(dst):
            continue
        if name in CLASSIFIERS:
            cmd = [sys.executable, tool, CLASSIFIERS[name], name, "--weights", "random", "--seed", str(seed), "--out", dst]
        else:
            plugin, arch = DETECTORS[name]
            pth = dst.replace(".safetensors", ".mmdet.pth")
            mmdet_checkpoint(pth, plugin, arch, seed)
            cmd = [sys.executable, tool, "--mmdet", pth, "--arch", plugin, "--out", dst]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        if name not in CLASSIFIERS:
            os.remove(pth)
        made.append(name)
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--imagenet-val", type=int, default=1, help="images per class in val/")
    ap.add_argument("--imagenet-train", type=int, default=1, help="images per class in train/")
    ap.add_argument("--imagenet-classes-with-images", type=int, default=1000,
                    help="only the first K classes get images (every class folder is made: the classifier's 1000 classes)")
    ap.add_argument("--coco-val", type=int, default=8)
    ap.add_argument("--coco-train", type=int, default=8)
    ap.add_argument("--models", default="all", help="comma-separated, 'all' or 'none': " + ", ".join([*CLASSIFIERS, *DETECTORS]))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    every = [*CLASSIFIERS, *DETECTORS]
    models = every if args.models == "all" else [] if args.models == "none" else args.models.split(",")
    unknown = [m for m in models if m not in every]
    if unknown:
        raise SystemExit(f"make_standins: unknown model(s) {', '.join(unknown)}; expected {', '.join(every)}")
    items, labels = fashion_items()
    rng = np.random.default_rng(args.seed)
    n_in = imagenet(args.out, {"val": args.imagenet_val, "train": args.imagenet_train}, rng, items, labels,
                    args.imagenet_classes_with_images) \
        if args.imagenet_val or args.imagenet_train else 0
    n_coco = coco(args.out, {"val2017": args.coco_val, "train2017": args.coco_train}, rng, items, labels) \
        if args.coco_val or args.coco_train else 0
    made = weights(args.out, models, args.seed)
    print(f"stand-ins in {args.out}: {n_in} ImageNet and {n_coco} COCO images written, weights made: {', '.join(made) or 'none'}")


if __name__ == "__main__":
    main()
