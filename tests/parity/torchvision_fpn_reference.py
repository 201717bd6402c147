#!/usr/bin/python3
"""Reference outputs of torchvision's ResNet-50 + FeaturePyramidNetwork (as in maskrcnn_resnet50_fpn).

  torchvision_fpn_reference.py OUTDIR

Writes OUTDIR/resnet50_fpn.safetensors (the resnet50 state dict plus fpn.*; random, seeded) and
OUTDIR/resnet50_fpn_reference.safetensors (input and the five levels "0".."3", "pool").
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from export_weights import write_safetensors  # noqa: E402

import torch  # noqa: E402
import torchvision  # noqa: E402
from torchvision.ops import FeaturePyramidNetwork  # noqa: E402
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool  # noqa: E402


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    body = torchvision.models.resnet50(weights=None).eval()
    fpn = FeaturePyramidNetwork([256, 512, 1024, 2048], 256, extra_blocks=LastLevelMaxPool()).eval()
    with torch.no_grad():
        for p in fpn.parameters():
            p.add_(0.05 * torch.randn_like(p))  # non-zero biases
    state = dict(body.state_dict())
    state.update({"fpn." + k: v for k, v in fpn.state_dict().items()})
    write_safetensors(os.path.join(out, "resnet50_fpn.safetensors"), state)
    torch.manual_seed(1)
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        y = body.maxpool(body.relu(body.bn1(body.conv1(x))))
        feats = {}
        for i, name in enumerate(["layer1", "layer2", "layer3", "layer4"]):
            y = getattr(body, name)(y)
            feats[str(i)] = y
        levels = fpn(feats)
    ref = {"input": x}
    ref.update({"level." + k: v for k, v in levels.items()})
    write_safetensors(os.path.join(out, "resnet50_fpn_reference.safetensors"), ref)
    print("levels:", {k: list(v.shape) for k, v in levels.items()})


if __name__ == "__main__":
    main()
