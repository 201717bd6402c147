#!/usr/bin/python3
"""Reference outputs of torchvision's ResNets for the engine's parity test.

  torchvision_resnet_reference.py OUTDIR

For resnet18 and resnet50: random weights (seed 0) with non-trivial BatchNorm statistics, exported
with tools/export_weights.py to OUTDIR/<arch>.safetensors, and the outputs of layer3, layer4 and the
logits for a fixed input to OUTDIR/<arch>_reference.safetensors. Uses Debian's python3-torch and
python3-torchvision.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from export_weights import write_safetensors  # noqa: E402

import torch  # noqa: E402
import torchvision  # noqa: E402


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for arch in ("resnet18", "resnet50"):
        torch.manual_seed(0)
        model = getattr(torchvision.models, arch)(weights=None)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
        model.eval()
        write_safetensors(os.path.join(out, f"{arch}.safetensors"), model.state_dict())
        torch.manual_seed(1)
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            y = model.maxpool(model.relu(model.bn1(model.conv1(x))))
            y = model.layer2(model.layer1(y))
            l3 = model.layer3(y)
            l4 = model.layer4(l3)
            logits = model.fc(torch.flatten(model.avgpool(l4), 1))
            assert torch.allclose(logits, model(x), atol=1e-5)
        write_safetensors(os.path.join(out, f"{arch}_reference.safetensors"),
                          {"input": x, "layer3": l3, "layer4": l4, "logits": logits})
    print(f"torchvision {torchvision.__version__} references written to {out}")


if __name__ == "__main__":
    main()
