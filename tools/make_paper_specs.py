#!/usr/bin/env python3
"""Writes the paper-scale quantization specs of experiments/ from one description, so that Table 2
(table2.json), Fig. 10 (fig10_quant_classification.json) and Fig. 11 (fig11_quant_detection.json)
cannot drift apart, and the Mask R-CNN models of Figs. 5/6 carry the head semantics their
checkpoints were trained with.

  tools/make_paper_specs.py [--check]     # --check: fail if a committed spec differs

Each model is paired with its own checkpoint (and, for mmdetection's Mask R-CNN, RoIAlign with the
half-pixel offset and adaptive sampling, unrounded anchors) by a "cases" group; the number of
classes is read from each checkpoint. Budgets sigma_q: the paper's values were lost in
extraction; 0.1-1.6 (our choice) spans "no loss" to "large loss" on features of unit scale.
"""
import argparse
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "experiments")
BUDGETS = [0.1, 0.2, 0.4, 0.8, 1.6]
SEEDS = [0, 1, 2, 3, 4]

CLASSIFIERS = [("swin", a, f"weights/{a}.safetensors") for a in ("swin_t", "swin_s", "swin_b")] + \
              [("pvt_v2", a, f"weights/{a}.safetensors") for a in ("pvt_v2_b1", "pvt_v2_b2", "pvt_v2_b3")]
# torchvision's Mask R-CNN R50-FPN, and mmdetection's Swin/PVTv2 Mask R-CNN (tools/export_weights.py --mmdet).
TORCHVISION_HEADS = {"roi_align_aligned": False, "roi_sampling_ratio": 2, "anchor_rounding": True}
MMDET_HEADS = {"roi_align_aligned": True, "roi_sampling_ratio": 0, "anchor_rounding": False}
DETECTORS = [("resnet", "resnet50", "weights/maskrcnn_r50.safetensors", TORCHVISION_HEADS)] + \
            [("swin", a, f"weights/mrcnn_{a}.safetensors", MMDET_HEADS) for a in ("swin_t", "swin_s")] + \
            [("pvt_v2", a, f"weights/mrcnn_{a}.safetensors", MMDET_HEADS) for a in ("pvt_v2_b1", "pvt_v2_b2", "pvt_v2_b3")]

IMAGENET = {"plugin": "classification", "params": {"dataset": "imagefolder", "root": "data/imagenet", "channels": 3,
                                                    "batch_size": 256, "workers": 8}}
COCO = {"plugin": "detection", "params": {"dataset": "coco", "root": "data/coco", "channels": 3, "batch_size": 8,
                                          "eval_samples": 5000, "train_samples": 118287}}
FEATJND_CLS = {"plugin": "featjnd", "params": {"lambda": 1.0, "epochs": 1, "lr": 1e-4, "width": 256, "blocks": 2,
                                               "clamp": 10.0, "clip_norm": 1.0}}
FEATJND_DET = {"plugin": "featjnd", "params": {"lambda": 1.0, "epochs": 1, "lr": 2e-5, "width": 256, "blocks": 2,
                                               "clamp": 10.0, "clip_norm": 1.0}}


def quant_chain(suffix, backbone, task, featjnd, budgets, codec=False, seeds=SEEDS, minmax_bits=None):
    """Components, stages and sweeps of one quantization chain: prepare, fit, and the three quantizers
    (uniform needs no fit); with `codec`, every quantizer codes its batches to bitstreams, and the
    min-max anchor joins at `minmax_bits`."""
    params = {"codec": True} if codec else {}
    comps = {f"featjnd-{suffix}": featjnd}
    for q in ("featjnd", "random", "uniform"):
        comps[f"quant-{q}-{suffix}"] = {"plugin": f"quant-{q}", "params": dict(params)} if params else {"plugin": f"quant-{q}"}
    stages = [
        {"name": f"prepare-{suffix}", "type": "prepare", "backbone": backbone, "task": task},
        {"name": f"fit-{suffix}", "type": "fit", "after": f"prepare-{suffix}", "distortion": f"featjnd-{suffix}"},
        {"name": f"eval-quant-featjnd-{suffix}", "type": "evaluate", "after": f"fit-{suffix}",
         "distortion": f"quant-featjnd-{suffix}"},
        {"name": f"eval-quant-random-{suffix}", "type": "evaluate", "after": f"fit-{suffix}",
         "distortion": f"quant-random-{suffix}"},
        {"name": f"eval-quant-uniform-{suffix}", "type": "evaluate", "after": f"prepare-{suffix}",
         "distortion": f"quant-uniform-{suffix}"},
    ]
    sweep = {f"quant-featjnd-{suffix}": {"sigma_q": budgets},
             f"quant-random-{suffix}": {"sigma_q": budgets, "seed": seeds},
             f"quant-uniform-{suffix}": {"sigma_q": budgets}}
    if minmax_bits:
        comps[f"quant-minmax-{suffix}"] = {"plugin": "quant-minmax", "params": {"codec": True}}
        stages.append({"name": f"eval-quant-minmax-{suffix}", "type": "evaluate", "after": f"prepare-{suffix}",
                       "distortion": f"quant-minmax-{suffix}"})
        sweep[f"quant-minmax-{suffix}"] = {"bits": minmax_bits}
    return comps, stages, sweep


# Rate-accuracy (codec mode): more budgets than Table 2 so that every method has at least five
# rate points, two random seeds (the BD-rate compares mean curves), and the min-max anchor.
RATE_BUDGETS = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2]
RATE_SEEDS = [0, 1]
MINMAX_BITS = [2, 3, 4, 5, 6, 8]
RATE = {"codec": True, "seeds": RATE_SEEDS, "minmax_bits": MINMAX_BITS}


def classification_part(rate=False):
    first = CLASSIFIERS[0]
    comps = {"cls-backbone": {"plugin": first[0], "params": {"arch": first[1], "weights": first[2]}}, "cls-task": IMAGENET}
    c, stages, sweep = quant_chain("cls", "cls-backbone", "cls-task", FEATJND_CLS, RATE_BUDGETS if rate else BUDGETS,
                                   **(RATE if rate else {}))
    comps.update(c)
    cases = [{"name": arch, "cls-backbone": {"plugin": plugin, "params": {"arch": arch, "weights": w}}}
             for plugin, arch, w in CLASSIFIERS]
    return comps, stages, sweep, {"classifier": cases}


def detection_part(detectors, rate=False):
    first = detectors[0]
    comps = {"det-backbone": {"plugin": first[0], "params": {"arch": first[1], "neck": "fpn", "weights": first[2]}},
             "det-task": COCO}
    c, stages, sweep = quant_chain("det", "det-backbone", "det-task", FEATJND_DET, RATE_BUDGETS if rate else BUDGETS,
                                   **(RATE if rate else {}))
    comps.update(c)
    # The bbox table uses the estimator fitted on D_det, the segm table the one fitted on D_seg.
    sweep["det-task"] = {"discrepancy": ["det", "segm"]}
    return comps, stages, sweep, {"detector": detector_cases(detectors, "det-backbone", "det-task")}


def detector_cases(detectors, backbone, task):
    cases = []
    for plugin, arch, w, heads in detectors:
        case = {"name": arch, backbone: {"plugin": plugin, "params": {"arch": arch, "neck": "fpn", "weights": w}}}
        case.update({f"{task}.{k}": v for k, v in heads.items()})
        cases.append(case)
    return cases


# The offline counterpart (table2_offline.json): the same structure on real data here — a small Swin
# and a small PVTv2 trained by the engine on Fashion-MNIST and on the Fashion-MNIST scenes, each with
# its own estimators. Budgets: the scenes' FPN features are about 5x larger in RMS than the
# classifiers' token maps, so their sigma_q are 5x larger (measured, not tuned to a result).
OFFLINE_CLASSIFIERS = [
    ("swin", {"arch": "custom", "embed_dim": 32, "depths": [2, 2], "num_heads": [2, 4], "patch_size": 2,
              "window_size": 7, "in_channels": 1, "stochastic_depth": 0.0}),
    ("pvt_v2", {"arch": "custom", "stem_stride": 1, "embed_dims": [16, 32, 48, 64], "depths": [1, 1, 2, 1],
                "num_heads": [1, 2, 3, 4], "mlp_ratios": [4, 4, 4, 4], "in_channels": 1}),
]
OFFLINE_DETECTORS = [
    ("swin", {"arch": "custom", "embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8], "patch_size": 4,
              "window_size": 4, "in_channels": 1, "stochastic_depth": 0.0, "neck": "fpn", "fpn_channels": 64}),
    ("pvt_v2", {"arch": "custom", "embed_dims": [16, 32, 48, 64], "depths": [1, 1, 1, 1], "num_heads": [1, 2, 3, 4],
                "mlp_ratios": [4, 4, 4, 4], "in_channels": 1, "neck": "fpn", "fpn_channels": 64}),
]
FASHION_MNIST = {"plugin": "classification", "params": {"train_samples": 12000, "eval_samples": 2000, "epochs": 2,
                                                        "lr": 0.002, "batch_size": 64}}
SCENES = {"plugin": "detection", "params": {
    "dataset": "fashion-mnist-scenes", "train_samples": 1000, "eval_samples": 100, "epochs": 2, "batch_size": 8,
    "representation": 128, "mask_channels": 16, "anchor_sizes": [16, 32, 64, 128, 256], "rpn_pre_nms_train": 600,
    "rpn_post_nms_train": 200, "rpn_pre_nms_test": 300, "rpn_post_nms_test": 100, "rpn_batch": 128, "roi_batch": 64,
    "detections_per_img": 20}}
OFFLINE_FEATJND_CLS = {"plugin": "featjnd", "params": {"lambda": 0.1, "fit_samples": 4000, "lr": 0.001, "width": 32,
                                                       "blocks": 1}}
OFFLINE_FEATJND_DET = {"plugin": "featjnd", "params": {"lambda": 0.1, "fit_samples": 400, "lr": 0.001, "width": 32,
                                                       "blocks": 1}}


def offline_parts(rate=False):
    comps = {"cls-backbone": {"plugin": "swin", "params": OFFLINE_CLASSIFIERS[0][1]}, "cls-task": FASHION_MNIST,
             "det-backbone": {"plugin": "swin", "params": OFFLINE_DETECTORS[0][1]}, "det-task": SCENES}
    extra = RATE if rate else {}
    budgets = RATE_BUDGETS if rate else BUDGETS
    c1, st1, sw1 = quant_chain("cls", "cls-backbone", "cls-task", OFFLINE_FEATJND_CLS, budgets, **extra)
    c2, st2, sw2 = quant_chain("det", "det-backbone", "det-task", OFFLINE_FEATJND_DET, [5 * b for b in budgets], **extra)
    comps.update(c1)
    comps.update(c2)
    sw1.update(sw2)
    sw1["det-task"] = {"discrepancy": ["det", "segm"]}
    # One case per architecture sets its classifier and its detector.
    cases = [{"name": plugin, "cls-backbone": {"plugin": plugin, "params": cls},
              "det-backbone": {"plugin": plugin, "params": det}}
             for (plugin, cls), (_, det) in zip(OFFLINE_CLASSIFIERS, OFFLINE_DETECTORS)]
    return comps, st1 + st2, sw1, {"model": cases}


# Side information (beyond the paper): the classifiers of rate_offline with the step map's designs
# as a grid — per token or per 2x2 / 4x4 block of tokens, log-steps in eighths or halves of an
# octave — for the FeatJND-guided and random quantizers, beside the uniform and min-max anchors.
SIDE_INFO_BLOCKS = [1, 2, 4]
SIDE_INFO_STEPS_PER_OCTAVE = [8, 2]


def side_info_part():
    comps = {"cls-backbone": {"plugin": "swin", "params": OFFLINE_CLASSIFIERS[0][1]}, "cls-task": FASHION_MNIST}
    c, stages, sweep = quant_chain("cls", "cls-backbone", "cls-task", OFFLINE_FEATJND_CLS, RATE_BUDGETS, **RATE)
    comps.update(c)
    for q in ("featjnd", "random"):
        sweep[f"quant-{q}-cls"].update({"step_block": SIDE_INFO_BLOCKS, "steps_per_octave": SIDE_INFO_STEPS_PER_OCTAVE})
    cases = [{"name": plugin, "cls-backbone": {"plugin": plugin, "params": params}} for plugin, params in OFFLINE_CLASSIFIERS]
    return comps, stages, sweep, {"model": cases}


def spec(name, description, parts):
    s = {"name": name, "description": description, "seed": 0, "devices": ["cuda:0"], "components": {}, "stages": [],
         "sweep": {}, "cases": {}}
    for comps, stages, sweep, cases in parts:
        s["components"].update(comps)
        s["stages"] += stages
        s["sweep"].update(sweep)
        s["cases"].update(cases)
    return s


def figs56(existing, detectors_key="det-backbone"):
    """Figs. 5/6: the Mask R-CNN models as cases with their head semantics."""
    s = json.loads(json.dumps(existing))
    s["sweep"].pop("backbone", None)
    s["cases"] = {"detector": detector_cases(DETECTORS, "backbone", "task")}
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing them")
    args = ap.parse_args()
    mmdet_detectors = DETECTORS[1:]  # Table 2 and Fig. 11: the transformer backbones
    out = {
        "table2.json": spec(
            "table2",
            "Paper Table 2 (and Figs. 10-11): token-wise quantization at matched noise budgets sigma_q, FeatJND-guided "
            "step allocation against the same steps randomly permuted (5 seeds) and one uniform step. Classification: "
            "Swin-T/S/B (torchvision) and PVTv2-b1/b2/b3 (timm) on ImageNet-1k val; detection (bbox, estimator fitted on "
            "D_det) and instance segmentation (segm, fitted on D_seg): mmdetection's Mask R-CNN with Swin-T/S and "
            "PVTv2-b1/b2/b3 on COCO val2017. Weights in weights/ (tools/export_weights.py), data in data/imagenet and "
            "data/coco; `report --table2` prints the table.",
            [classification_part(), detection_part(mmdet_detectors)]),
        "fig10_quant_classification.json": spec(
            "fig10_quant_classification",
            "Paper Fig. 10 (classification): token-wise quantization at matched noise budgets, FeatJND-guided against "
            "random permutation (5 seeds) and uniform, ImageNet-1k val, Swin-T/S/B (torchvision) and PVTv2-b1/b2/b3 (timm).",
            [classification_part()]),
        "fig11_quant_detection.json": spec(
            "fig11_quant_detection",
            "Paper Fig. 11 (detection and instance segmentation): token-wise quantization of the five FPN levels at "
            "matched noise budgets (met per level), FeatJND-guided (estimator fitted on D_det for bbox, D_seg for segm) "
            "against random permutation (5 seeds) and uniform, mmdetection's Mask R-CNN Swin-T/S and PVTv2-b1/b2/b3, "
            "COCO val2017.",
            [detection_part(mmdet_detectors)]),
    }
    offline = spec(
        "table2_offline",
        "Table 2 offline, on real data: the same structure as table2.json with a small Swin and a small PVTv2 trained by "
        "the engine on Fashion-MNIST (classification, top-1) and on the Fashion-MNIST scenes (Mask R-CNN; bbox AP from "
        "the estimator fitted on D_det, segm AP from the one fitted on D_seg); token-wise quantization at five budgets, "
        "FeatJND-guided against random permutation (5 seeds) and uniform. About 25 minutes on 2 cores.",
        [offline_parts()])
    offline["devices"] = ["cpu"]
    out["table2_offline.json"] = offline
    out["rate.json"] = spec(
        "rate",
        "Rate-accuracy at paper scale (beyond the paper): the Table 2 models with every quantizer coding its batches to "
        "bitstreams (rANS, side information included), six budgets per method, two random seeds, and the min-max "
        "anchor at 2-8 bits; `report --rate` prints bits per pixel against accuracy and BD-rates.",
        [classification_part(rate=True), detection_part(mmdet_detectors, rate=True)])
    rate_offline = spec(
        "rate_offline",
        "Rate-accuracy offline (beyond the paper): the table2_offline models (run it with --db "
        "results/table2_offline.db to reuse their networks and estimators) with every quantizer in codec mode, six "
        "budgets per method, two random seeds, and the min-max anchor at 2-8 bits.",
        [offline_parts(rate=True)])
    rate_offline["devices"] = ["cpu"]
    out["rate_offline.json"] = rate_offline
    side_info = spec(
        "ablation_side_info",
        "Side information of the step map (beyond the paper): the rate_offline classifiers (run it with --db "
        "results/rate_offline.db to reuse their networks and estimators) with FeatJND-guided and random steps per token "
        "or per 2x2 / 4x4 block of tokens (step_block), signalled in eighths or halves of an octave "
        "(steps_per_octave), all in codec mode, beside the uniform and min-max anchors; `report --rate` prints each "
        "design's curve and BD-rates. About 10 minutes on 2 cores.",
        [side_info_part()])
    side_info["devices"] = ["cpu"]
    out["ablation_side_info.json"] = side_info
    for name in ("fig5_detection.json", "fig6_segmentation.json"):
        with open(os.path.join(ROOT, name)) as f:
            out[name] = figs56(json.load(f))
    stale = []
    for name, s in out.items():
        path = os.path.join(ROOT, name)
        text = json.dumps(s, indent=2) + "\n"
        if args.check:
            with open(path) as f:
                if f.read() != text:
                    stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        sys.exit("make_paper_specs: out of date: " + ", ".join(stale) + " (run tools/make_paper_specs.py)")


if __name__ == "__main__":
    main()
