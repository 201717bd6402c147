#!/usr/bin/env python3
"""Reference outputs for the engine's parity tests, computed by the libraries users trust.

  tools/make_parity_fixtures.py OUTDIR [--only CASE,...]

Every model is the library's own, at full size, with random weights drawn with a fixed seed and
then perturbed so that BatchNorm statistics, biases, norms and relative position biases all
matter; its weights are written with tools/export_weights.py's writer (and, for Mask R-CNN, its
key translation), and it runs a fixed input. The cases (CASE.safetensors holds the weights,
CASE_reference.safetensors the input and the outputs):

  resnet18, resnet50         torchvision, 2x3x224x224: layer1..4, logits
  swin_t, swin_s, swin_b     torchvision, 2x3x224x224: stage0..3 (each stage's blocks, before
                             patch merging, NCHW), features (after the final norm), logits
  pvt_v2_b1, _b2, _b3        timm, 2x3x224x224: stage0..3 (forward_intermediates), logits
  maskrcnn                   torchvision's maskrcnn_resnet50_fpn, one 3x800x1216 image (the
                             transform bypassed: the engine's images arrive normalised and padded):
                             layer1..4, the five FPN levels, the RPN's proposals and, per image,
                             boxes, scores, labels, 28x28 mask probabilities and pasted masks
  swin_t_fpn, pvt_v2_b1_fpn  mmdetection's arrangement for its Swin and PVTv2 Mask R-CNN configs:
                             the library backbone's stage outputs (Swin through per-stage
                             LayerNorms, as mmdetection's out_indices norms), torchvision's
                             FeaturePyramidNetwork with LastLevelMaxPool (mmdetection's FPN with
                             num_outs 5 and no extra convs computes the same) under mmdetection's
                             neck.* names, at 3x256x352 (not a multiple of Swin's window)
  roi_align                  torchvision.ops.roi_align, aligned false/true x sampling 2/adaptive,
                             on 40 RoIs of every kind
  ig                         captum.attr.IntegratedGradients on a small CNN: every integration
                             method, three baselines, several internal batch sizes (ig_cases.json
                             lists them)
  preprocess                 each weights origin's own evaluation transform (torchvision's ResNet
                             and Swin presets, timm's PVTv2, torchvision's detection transform,
                             mmdetection's test pipeline by its documented steps with OpenCV) on 8
                             real JPEGs (jpeg/), with the recipe tools/export_weights.py writes for
                             those weights (preprocess_cases.json)

Nothing here is committed: the test (tests/integration/test_parity.sh) regenerates the files,
which are deterministic, into a temporary folder. The versions used are in versions.json.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_weights import from_torchvision_maskrcnn, mmdet_neck_keys, write_safetensors  # noqa: E402

import torch  # noqa: E402
import torchvision  # noqa: E402
from torchvision.ops import FeaturePyramidNetwork  # noqa: E402
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool  # noqa: E402


def perturb(module, scale=0.05):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))


def randomise_batchnorm(module):
    """Running statistics and affine parameters away from the identity, so that BatchNorm matters."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d) or type(m).__name__ == "FrozenBatchNorm2d":
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


def perturb_maskrcnn(model):
    """A random torchvision Mask R-CNN made to detect on random images: batch norm and the FPN away
    from the identity, objectness and class scores spread, box deltas and mask logits damped or
    biased, so that detections survive the score threshold."""
    randomise_batchnorm(model.backbone)
    with torch.no_grad():
        perturb(model.backbone.fpn)
        model.rpn.head.cls_logits.bias.normal_(0, 1.0)
        model.rpn.head.bbox_pred.weight.mul_(0.1)
        model.roi_heads.box_predictor.cls_score.weight.mul_(10)
        model.roi_heads.box_predictor.cls_score.bias.normal_(0, 1.0)
        model.roi_heads.box_predictor.bbox_pred.weight.mul_(0.3)
        model.roi_heads.mask_predictor.mask_fcn_logits.bias.normal_(0, 1.0)


def image_batch(seed, *shape):
    torch.manual_seed(seed)
    return torch.randn(*shape)


def save(out, case, weights, ref):
    write_safetensors(os.path.join(out, f"{case}.safetensors"), weights)
    write_safetensors(os.path.join(out, f"{case}_reference.safetensors"), {k: v.detach() for k, v in ref.items()})


def resnet(out, arch):
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None)
    randomise_batchnorm(model)
    model.eval()
    x = image_batch(1, 2, 3, 224, 224)
    ref = {"input": x}
    with torch.no_grad():
        y = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        for i in range(1, 5):
            y = getattr(model, f"layer{i}")(y)
            ref[f"layer{i}"] = y
        ref["logits"] = model(x)
    save(out, arch, model.state_dict(), ref)


def swin_model(arch):
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None)
    with torch.no_grad():  # make the relative position bias and the norms matter
        for name, p in model.named_parameters():
            if "relative_position_bias_table" in name:
                p.normal_(0, 0.5)
            elif "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def swin_stages(model, x):
    """Stage outputs before patch merging, channels last (features[1], [3], [5], [7])."""
    stages, y = [], x
    for i, layer in enumerate(model.features):
        y = layer(y)
        if i % 2 == 1:
            stages.append(y)
    return stages


def swin(out, arch):
    model = swin_model(arch)
    x = image_batch(1, 2, 3, 224, 224)
    ref = {"input": x}
    with torch.no_grad():
        for i, s in enumerate(swin_stages(model, x)):
            ref[f"stage{i}"] = s.permute(0, 3, 1, 2)
        ref["features"] = model.permute(model.norm(model.features(x)))
        ref["logits"] = model(x)
    save(out, arch, model.state_dict(), ref)


def pvt_model(arch):
    import timm
    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False)
    perturb(model, 0.02)  # LayerNorms and biases away from their initial 1 and 0
    return model.eval()


def pvt_v2(out, arch):
    model = pvt_model(arch)
    x = image_batch(1, 2, 3, 224, 224)
    ref = {"input": x}
    with torch.no_grad():
        for i, s in enumerate(model.forward_intermediates(x, intermediates_only=True)):
            ref[f"stage{i}"] = s
        ref["logits"] = model(x)
    save(out, arch, model.state_dict(), ref)


def maskrcnn(out):
    """torchvision's maskrcnn_resnet50_fpn end to end (random weights, heads perturbed so that
    scores spread), with the transform bypassed."""
    from torchvision.models.detection.image_list import ImageList
    torch.manual_seed(4)
    model = torchvision.models.detection.maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, box_score_thresh=0.02).eval()
    perturb_maskrcnn(model)
    x = image_batch(5, 1, 3, 800, 1216)
    size = [(800, 1216)]
    ref = {"input": x}
    with torch.no_grad():
        body = model.backbone.body(x)
        for i, k in enumerate(body):
            ref[f"layer{i + 1}"] = body[k]
        feats = model.backbone.fpn(body)
        ref.update({"level." + k: v for k, v in feats.items()})
        images = ImageList(x, size)
        proposals, _ = model.rpn(images, feats)
        dets, _ = model.roi_heads(feats, proposals, images.image_sizes)
        pasted = model.transform.postprocess([dict(d) for d in dets], images.image_sizes, size)
    ref["proposals.0"] = proposals[0]
    ref["boxes.0"] = dets[0]["boxes"]
    ref["scores.0"] = dets[0]["scores"]
    ref["labels.0"] = dets[0]["labels"]
    ref["masks.0"] = dets[0]["masks"][:, 0]      # 28x28 probabilities of the predicted class
    ref["pasted.0"] = pasted[0]["masks"][:, 0]   # in the image
    save(out, "maskrcnn", from_torchvision_maskrcnn(model.state_dict()), ref)
    print(f"maskrcnn: {len(proposals[0])} proposals, {len(dets[0]['boxes'])} detections")


def fpn_reference(in_channels, out_channels, stages):
    """torchvision's FPN + max-pool level over `stages` (finest first); returns (module, levels)."""
    fpn = FeaturePyramidNetwork(in_channels, out_channels, extra_blocks=LastLevelMaxPool()).eval()
    perturb(fpn)  # non-zero biases
    with torch.no_grad():
        levels = fpn({str(i): s for i, s in enumerate(stages)})
    return fpn, levels


def swin_t_fpn(out):
    model = swin_model("swin_t")
    dims = [96, 192, 384, 768]
    norms = [torch.nn.LayerNorm(d) for d in dims]
    for n in norms:
        perturb(n, 0.1)
    x = image_batch(2, 1, 3, 256, 352)  # not a multiple of the window: padding at every stage
    with torch.no_grad():
        stages = [n(s).permute(0, 3, 1, 2) for n, s in zip(norms, swin_stages(model, x))]
    torch.manual_seed(3)
    fpn, levels = fpn_reference(dims, 256, stages)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(("norm.", "head."))}
    for i, n in enumerate(norms):
        state.update({f"norm{i}.{k}": v for k, v in n.state_dict().items()})
    state.update(mmdet_neck_keys(fpn.state_dict()))
    ref = {"input": x, **{"level." + k: v for k, v in levels.items()}}
    ref.update({f"stage{i}": s for i, s in enumerate(stages)})
    save(out, "swin_t_fpn", state, ref)


def pvt_v2_b1_fpn(out):
    model = pvt_model("pvt_v2_b1")
    x = image_batch(2, 1, 3, 256, 352)
    with torch.no_grad():
        stages = model.forward_intermediates(x, intermediates_only=True)
    torch.manual_seed(3)
    fpn, levels = fpn_reference([s.shape[1] for s in stages], 256, stages)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    state.update(mmdet_neck_keys(fpn.state_dict()))
    ref = {"input": x, **{"level." + k: v for k, v in levels.items()}}
    ref.update({f"stage{i}": s for i, s in enumerate(stages)})
    save(out, "pvt_v2_b1_fpn", state, ref)


def roi_align(out):
    """torchvision.ops.roi_align with both pixel models (aligned False: torchvision's Mask R-CNN;
    True: mmcv's RoIAlign in mmdetection) and both sampling rules (2 per bin; 0: adaptive), on RoIs
    of many sizes: smaller than a bin, degenerate, partly or wholly outside the map."""
    from torchvision.ops import roi_align as tv_roi_align
    torch.manual_seed(6)
    x = torch.randn(2, 3, 20, 24)
    g = torch.Generator().manual_seed(7)
    n = 40
    xy = torch.rand(n, 2, generator=g) * torch.tensor([110.0, 90.0]) - 10.0   # image 96x80 at scale 1/4
    wh = torch.rand(n, 2, generator=g) ** 3 * torch.tensor([90.0, 75.0])
    boxes = torch.cat([xy, xy + wh], 1)
    boxes[0] = torch.tensor([10.0, 10.0, 10.0, 30.0])                          # zero width
    boxes[1] = torch.tensor([40.0, 40.0, 41.0, 41.0])                          # smaller than a bin
    rois = torch.cat([torch.randint(0, 2, (n, 1), generator=g).float(), boxes], 1)
    ref = {"input": x, "rois": rois}
    for aligned in (False, True):
        for sampling in (0, 2):
            ref[f"aligned{int(aligned)}.sampling{sampling}"] = tv_roi_align(
                x, rois, (7, 5), spatial_scale=0.25, sampling_ratio=sampling, aligned=aligned)
    write_safetensors(os.path.join(out, "roi_align_reference.safetensors"), ref)


def preprocess_jpegs(out):
    """Real JPEGs of several sizes, aspect ratios and encodings, made from matplotlib's sample
    photograph (grace_hopper.jpg): 4:2:0 and 4:4:4, progressive, greyscale."""
    import matplotlib.cbook
    from PIL import Image
    photo = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
    os.makedirs(os.path.join(out, "jpeg"), exist_ok=True)
    files = []
    for w, h, extra in ((500, 375, {}), (375, 500, {}), (640, 480, {"subsampling": 0}), (333, 500, {"progressive": True}),
                        (1000, 250, {}), (224, 224, {}), (1216, 800, {}), (300, 451, {"grey": True})):
        img = photo.resize((w, h), Image.LANCZOS)
        grey = extra.pop("grey", False)
        if grey:
            img = img.convert("L")
        path = os.path.join(out, "jpeg", f"{w}x{h}{'_grey' if grey else ''}.jpg")
        img.save(path, "JPEG", quality=90, **extra)
        files.append(path)
    return files


def mmdet_documented(path, r):
    """mmdetection's test pipeline by its documented steps (mmdetection itself does not install
    here): cv2.imread (BGR), mmcv.imrescale to (1333, 800) keeping the ratio (sides rounded) with
    cv2.resize INTER_LINEAR, bgr_to_rgb, (x - mean) / std on 0-255."""
    import cv2
    import numpy as np
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    h, w = bgr.shape[:2]
    scale = min(r["max_size"] / max(h, w), r["resize"] / min(h, w))
    resized = cv2.resize(bgr, (int(w * scale + 0.5), int(h * scale + 0.5)), interpolation=cv2.INTER_LINEAR)
    rgb = resized[:, :, ::-1].astype(np.float32)
    x = (rgb - np.array(r["mean"], np.float32) * 255) / (np.array(r["std"], np.float32) * 255)
    return torch.from_numpy(x.transpose(2, 0, 1).copy())


def preprocess(out):
    """Each weights origin's own evaluation transform on real JPEGs: torchvision's ImageNet presets
    (weights.transforms() on the PIL image its ImageFolder loads), timm's eval transform,
    torchvision's GeneralizedRCNNTransform (normalise, resize) and mmdetection's documented test
    pipeline; the recipe beside each is what tools/export_weights.py writes for those weights."""
    import timm
    import timm.data
    from export_weights import mmdet_recipe, timm_recipe, torchvision_detection_recipe, torchvision_recipe
    from torchvision.datasets.folder import default_loader
    import torchvision.transforms.functional as TF
    files = preprocess_jpegs(out)
    pvt = timm.create_model("pvt_v2_b2", pretrained=False)
    timm_t = timm.data.create_transform(**timm.data.resolve_data_config({}, model=pvt))
    det = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).eval()
    origins = {}
    for arch in ("resnet18", "resnet50", "swin_t", "swin_s", "swin_b"):
        entry = torchvision.models.get_model_weights(arch).DEFAULT
        origins[f"torchvision {arch}"] = (torchvision_recipe(entry), lambda p, t=entry.transforms(): t(default_loader(p)))
    origins["timm pvt_v2_b2"] = (timm_recipe(pvt), lambda p: timm_t(default_loader(p)))
    origins["torchvision maskrcnn"] = (torchvision_detection_recipe(det),
                                       lambda p: det.transform.resize(det.transform.normalize(TF.to_tensor(default_loader(p))), None)[0])
    mm = mmdet_recipe()
    origins["mmdetection"] = (mm, lambda p: mmdet_documented(p, mm))
    ref, manifest = {}, []
    for origin, (r, transform) in origins.items():
        for i, path in enumerate(files):
            key = f"{origin.replace(' ', '.')}.{i}"
            with torch.no_grad():
                ref[key] = transform(path)
            manifest.append({"key": key, "origin": origin, "file": os.path.relpath(path, out), "recipe": r})
    write_safetensors(os.path.join(out, "preprocess_reference.safetensors"), ref)
    with open(os.path.join(out, "preprocess_cases.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)


IG_METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


def ig(out):
    """captum.attr.IntegratedGradients itself on a small CNN's class-1 logit (tanh, so that the
    gradients are smooth): every method with a zero baseline, all at once and in chunks of path
    points; a constant and a per-example random baseline; an odd number of steps."""
    from captum.attr import IntegratedGradients
    torch.manual_seed(8)
    model = torch.nn.ModuleDict({"conv1": torch.nn.Conv2d(1, 4, 3, padding=1),
                                 "conv2": torch.nn.Conv2d(4, 4, 3, padding=1), "fc": torch.nn.Linear(4, 3)})

    def f(x):
        h = torch.tanh(model["conv2"](torch.tanh(model["conv1"](x))))
        return model["fc"](h.mean((2, 3)))

    x = torch.randn(2, 1, 8, 8)
    baselines = {"zero": torch.zeros_like(x), "half": torch.full_like(x, 0.5), "random": 0.3 * torch.randn_like(x)}
    cases = [(m, 20, "zero", None) for m in IG_METHODS]
    cases += [(m, 20, "zero", 8) for m in IG_METHODS]            # 4 path points x 2 images per pass
    cases += [("gausslegendre", 20, "half", None), ("riemann_trapezoid", 20, "random", 6),
              ("gausslegendre", 7, "random", 5), ("riemann_middle", 2, "half", None)]
    ref = {"input": x, **{"baseline." + k: v for k, v in baselines.items()}}
    manifest = []
    explainer = IntegratedGradients(f)
    for method, n, baseline, ibs in cases:
        name = f"{method}.n{n}.{baseline}.ibs{ibs or 0}"
        attr, delta = explainer.attribute(x, baselines=baselines[baseline], target=1, n_steps=n, method=method,
                                          internal_batch_size=ibs, return_convergence_delta=True)
        ref["attr." + name], ref["delta." + name] = attr, delta
        manifest.append({"name": name, "method": method, "n_steps": n, "baseline": baseline,
                         "internal_batch_size": ibs or 0})
    write_safetensors(os.path.join(out, "ig_model.safetensors"), model.state_dict())
    write_safetensors(os.path.join(out, "ig_reference.safetensors"), {k: v.detach() for k, v in ref.items()})
    with open(os.path.join(out, "ig_cases.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)


CASES = {
    "resnet18": lambda out: resnet(out, "resnet18"), "resnet50": lambda out: resnet(out, "resnet50"),
    "swin_t": lambda out: swin(out, "swin_t"), "swin_s": lambda out: swin(out, "swin_s"),
    "swin_b": lambda out: swin(out, "swin_b"),
    "pvt_v2_b1": lambda out: pvt_v2(out, "pvt_v2_b1"), "pvt_v2_b2": lambda out: pvt_v2(out, "pvt_v2_b2"),
    "pvt_v2_b3": lambda out: pvt_v2(out, "pvt_v2_b3"),
    "maskrcnn": maskrcnn, "swin_t_fpn": swin_t_fpn, "pvt_v2_b1_fpn": pvt_v2_b1_fpn,
    "roi_align": roi_align, "ig": ig, "preprocess": preprocess,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--only", help="comma-separated cases (default: all): " + ", ".join(CASES))
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise SystemExit(f"make_parity_fixtures: unknown case(s) {', '.join(unknown)}; expected {', '.join(CASES)}")
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for n in names:
        CASES[n](args.out)
    import timm
    import captum
    versions = {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__,
                "captum": captum.__version__}
    with open(os.path.join(args.out, "versions.json"), "w") as fh:
        json.dump(versions, fh)
    print("references written to", args.out, "by", ", ".join(f"{k} {v}" for k, v in versions.items()))


if __name__ == "__main__":
    main()
