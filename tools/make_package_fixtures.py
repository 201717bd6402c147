#!/usr/bin/env python3
"""Model packages of five timm/torchvision families and their eager PyTorch outputs, for the
packaged backbone's parity cases (tests/plugin_units/test_packaged.cpp).

  .venv/bin/python tools/make_package_fixtures.py OUT_DIR

For each family: the model with seeded random weights and perturbed batch-norm statistics (so that
no normalisation is the identity), packaged by tools/export_model.py at its published input size,
and a reference file with the input, the split module's output as the model computes it (a
forward hook, not the package's graph) and the model's logits. cases.json lists them with the
layout the engine's levels must have.

The detector case: examples/byom/maskrcnn_r18.py (torchvision's Mask R-CNN on ResNet-18 + FPN,
none of the paper's detectors) with seeded random weights, batch-norm statistics and heads
perturbed as tools/make_parity_fixtures.py does for maskrcnn_resnet50_fpn (so that detections
survive a random image), packaged with --detector from its checkpoint; the reference holds its five
levels, proposals and detections on one 512x672 image (the transform bypassed).
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export_weights import write_safetensors  # noqa: E402

# name, library, model, split, layout
CASES = [
    ("convnext_tiny", "timm", "convnext_tiny", "stages.2", "nchw"),
    ("efficientnet_b0", "timm", "efficientnet_b0", "blocks.5", "nchw"),
    ("vit_small", "timm", "vit_small_patch16_224", "blocks.8", "tokens"),
    ("regnet_y_400mf", "torchvision", "regnet_y_400mf", "trunk_output.block3", "nchw"),
    ("mobilenet_v3_large", "torchvision", "mobilenet_v3_large", "features.12", "nchw"),
    ("swin_tiny", "timm", "swin_tiny_patch4_window7_224", "layers.2", "nhwc"),
]


def perturbed(model, torch):
    """Batch-norm statistics away from (0, 1), seeded; the weights stay as initialised."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def build(library, name, torch):
    torch.manual_seed(0)
    if library == "timm":
        import timm
        model = timm.create_model(name, pretrained=False)
    else:
        import torchvision
        model = torchvision.models.get_model(name, weights=None)
    return perturbed(model, torch).eval()


def reference(model, split, torch):
    seen = {}
    hook = model.get_submodule(split).register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    torch.manual_seed(2)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        logits = model(x)
    hook.remove()
    return {"input": x, "split": seen["out"].contiguous(), "logits": logits}


def detector(out, torch):
    import importlib.util
    from torchvision.models.detection.image_list import ImageList
    from make_parity_fixtures import perturb_maskrcnn
    factory = os.path.join(os.path.dirname(HERE), "examples", "byom", "maskrcnn_r18.py")
    spec = importlib.util.spec_from_file_location("maskrcnn_r18", factory)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(6)
    model = module.build().eval()
    perturb_maskrcnn(model)
    ckpt = os.path.join(out, "maskrcnn_r18.pth")
    torch.save(model.state_dict(), ckpt)
    subprocess.run([sys.executable, os.path.join(HERE, "export_model.py"), "--module", f"{factory}:build",
                    "--checkpoint", ckpt, "--detector", "--input-size", "3,512,672",
                    "--out", os.path.join(out, "maskrcnn_r18")], check=True)
    os.remove(ckpt)
    model.roi_heads.score_thresh = 0.02
    torch.manual_seed(7)
    x = torch.randn(1, 3, 512, 672)
    ref = {"input": x}
    with torch.no_grad():
        feats = model.backbone(x)
        ref.update({"level." + k: v for k, v in feats.items()})
        images = ImageList(x, [(512, 672)])
        proposals, _ = model.rpn(images, feats)
        dets, _ = model.roi_heads(feats, proposals, images.image_sizes)
    ref.update({"proposals.0": proposals[0], "boxes.0": dets[0]["boxes"], "scores.0": dets[0]["scores"],
                "labels.0": dets[0]["labels"], "masks.0": dets[0]["masks"][:, 0]})
    write_safetensors(os.path.join(out, "maskrcnn_r18_reference.safetensors"), ref)
    print(f"maskrcnn_r18: packaged; {len(proposals[0])} proposals, {len(dets[0]['boxes'])} detections", flush=True)


def main():
    import torch
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cases = []
    for case, library, name, split, layout in CASES:
        model = build(library, name, torch)
        ckpt = os.path.join(out, f"{case}.pth")
        torch.save(model.state_dict(), ckpt)
        # The package is made from the checkpoint, as a user's trained model would be.
        subprocess.run([sys.executable, os.path.join(HERE, "export_model.py"), f"--{library}", name,
                        "--checkpoint", ckpt, "--split", split, "--input-size", "3,224,224",
                        "--out", os.path.join(out, case)], check=True)
        os.remove(ckpt)
        write_safetensors(os.path.join(out, f"{case}_reference.safetensors"), reference(model, split, torch))
        prefix = getattr(model, "num_prefix_tokens", 0) if layout == "tokens" else 0
        cases.append({"case": case, "model": f"{library} {name}", "split": split, "layout": layout,
                      "prefix_tokens": prefix})
        print(f"{case}: packaged", flush=True)
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    detector(out, torch)
    import timm
    import torchvision
    with open(os.path.join(out, "versions.json"), "w") as f:
        json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__}, f)


if __name__ == "__main__":
    main()
