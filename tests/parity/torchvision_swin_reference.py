#!/usr/bin/python3
"""Reference outputs of torchvision's Swin Transformer for the engine's parity test.

  torchvision_swin_reference.py OUTDIR

Writes a small Swin (embed 24, depths 2-2-2-2, heads 1-2-3-4, window 7, 10 classes; random weights,
seed 0) as OUTDIR/swin_custom.safetensors, its outputs for a fixed 2x3x64x64 input (features after
the final norm as B x C x H x W, and logits) as OUTDIR/swin_custom_reference.safetensors, and the
state-dict key names and shapes of swin_t, swin_s and swin_b as OUTDIR/swin_manifest.json.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
from export_weights import write_safetensors  # noqa: E402

import torch  # noqa: E402
import torchvision  # noqa: E402
from torchvision.models.swin_transformer import SwinTransformer  # noqa: E402


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = SwinTransformer(patch_size=[4, 4], embed_dim=24, depths=[2, 2, 2, 2], num_heads=[1, 2, 3, 4],
                            window_size=[7, 7], stochastic_depth_prob=0.0, num_classes=10)
    with torch.no_grad():  # make the relative position bias and the norms matter
        for name, p in model.named_parameters():
            if "relative_position_bias_table" in name:
                p.normal_(0, 0.5)
            elif "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    model.eval()
    write_safetensors(os.path.join(out, "swin_custom.safetensors"), model.state_dict())
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.permute(model.norm(model.features(x)))
        logits = model(x)
    write_safetensors(os.path.join(out, "swin_custom_reference.safetensors"),
                      {"input": x, "features": feats, "logits": logits})
    manifest = {}
    for arch in ("swin_t", "swin_s", "swin_b"):
        m = getattr(torchvision.models, arch)(weights=None)
        manifest[arch] = {k: list(v.shape) for k, v in m.state_dict().items() if not k.startswith("head.")}
    with open(os.path.join(out, "swin_manifest.json"), "w") as f:
        json.dump(manifest, f)
    print(f"torchvision {torchvision.__version__} Swin references written to {out}")


if __name__ == "__main__":
    main()
