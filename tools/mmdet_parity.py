#!/usr/bin/env python3
"""mmdetection itself as the oracle of the engine's Mask R-CNN with Swin and PVTv2 backbones.

  tools/mmdet_parity.py OUTDIR [--size 800x1216] [--only swin_t,pvt_v2_b1]

Needs an environment with mmdetection 3.3 and mmcv 2.1 with its compiled ops (mmcv has no wheel
for torch 2.11: it builds from source in about 17 minutes on two cores, which is why CI does not
run this; tools/mmdet_check.sh makes that environment and runs the comparison). For each case it
builds the model from mmdetection's own config — mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py, and the
same Mask R-CNN with the PVTv2-b1 backbone of retinanet_pvtv2-b1_fpn_1x_coco.py (mmdetection has no
PVTv2 Mask R-CNN config) — with random weights (seeded, then perturbed so that biases and norms
matter), saves its checkpoint as mmdetection does (CASE.pth), exports it with
tools/export_weights.py --mmdet (CASE.safetensors), and records on one fixed normalised input:
the backbone's four outputs, the neck's five levels, the RPN's proposals, and the RoI head's
detections before pasting (boxes, scores, labels, 28x28 mask probabilities of the predicted
class), all in the input's coordinates (rescale=False). tests/plugin_units/test_parity.cpp's
suite "mmdet" compares the engine with them.
"""
import argparse
import json
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export_weights import write_safetensors  # noqa: E402


def config_of(case):
    import mmdet
    from mmengine.config import Config
    root = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs")
    cfg = Config.fromfile(os.path.join(root, "swin", "mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py"))
    cfg.model.backbone.init_cfg = None  # random weights: nothing to download
    if case == "pvt_v2_b1":
        pvt = Config.fromfile(os.path.join(root, "pvt", "retinanet_pvtv2-b1_fpn_1x_coco.py"))
        cfg.model.backbone = pvt.model.backbone
        cfg.model.backbone.init_cfg = None
        cfg.model.neck.in_channels = [64, 128, 320, 512]
    return cfg


def build(case, seed):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(seed)
    model = MODELS.build(config_of(case).model)
    model.init_weights()
    with torch.no_grad():  # non-zero biases, norms away from 1/0, scores that spread
        for name, p in model.named_parameters():
            p.add_(0.02 * torch.randn_like(p))
        model.rpn_head.rpn_cls.bias.normal_(0, 1.0)
        model.roi_head.bbox_head.fc_cls.weight.mul_(3)
        model.roi_head.bbox_head.fc_cls.bias.normal_(0, 1.0)
    return model.eval()


def references(model, x):
    from mmdet.structures import DetDataSample
    h, w = x.shape[-2:]
    sample = DetDataSample(metainfo={"img_shape": (h, w), "ori_shape": (h, w), "pad_shape": (h, w),
                                     "batch_input_shape": (h, w), "scale_factor": (1.0, 1.0)})
    ref = {"input": x}
    with torch.no_grad():
        stages = model.backbone(x)
        for i, s in enumerate(stages):
            ref[f"stage{i}"] = s
        levels = model.neck(stages)
        for name, level in zip(("0", "1", "2", "3", "pool"), levels):
            ref["level." + name] = level
        proposals = model.rpn_head.predict(levels, [sample], rescale=False)
        ref["proposals"] = proposals[0].bboxes
        dets = model.roi_head.predict_bbox(levels, [sample.metainfo], proposals, model.roi_head.test_cfg, rescale=False)[0]
        ref["boxes"], ref["scores"], ref["labels"] = dets.bboxes, dets.scores, dets.labels
        if len(dets.bboxes):
            from mmdet.structures.bbox import bbox2roi
            masks = model.roi_head._mask_forward(levels, bbox2roi([dets.bboxes]))["mask_preds"].sigmoid()
            ref["masks"] = masks[torch.arange(len(dets.labels)), dets.labels]
    return ref


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--size", default="800x1216")
    ap.add_argument("--only", default="swin_t,pvt_v2_b1")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    os.makedirs(args.out, exist_ok=True)
    import mmcv
    import mmdet
    for case in args.only.split(","):
        model = build(case, seed=0)
        ckpt = os.path.join(args.out, f"mrcnn_{case}.pth")
        torch.save({"state_dict": model.state_dict(), "meta": {"mmdet_version": mmdet.__version__}}, ckpt)
        arch = "swin" if case.startswith("swin") else "pvt_v2"
        subprocess.run([sys.executable, os.path.join(HERE, "export_weights.py"), "--mmdet", ckpt, "--arch", arch,
                        "--out", os.path.join(args.out, f"mrcnn_{case}.safetensors")], check=True, stdout=subprocess.DEVNULL)
        torch.manual_seed(1)
        ref = references(model, torch.randn(1, 3, h, w))
        write_safetensors(os.path.join(args.out, f"mrcnn_{case}_reference.safetensors"), ref)
        print(f"{case}: {len(ref['proposals'])} proposals, {len(ref['boxes'])} detections")
    with open(os.path.join(args.out, "mmdet_versions.json"), "w") as f:
        json.dump({"mmdet": mmdet.__version__, "mmcv": mmcv.__version__, "torch": torch.__version__}, f)


if __name__ == "__main__":
    main()
