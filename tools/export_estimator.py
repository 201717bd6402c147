#!/usr/bin/env python3
"""The second half of `featjnd-engine export-estimator DB RUN --out DIR`: the fitted estimator as
TorchScript that PyTorch alone loads.

The engine has written DIR with estimator.json (the configuration and where it was fitted),
estimator.safetensors (the weights, the engine's state-dict names) and, for runs fitted by this
engine version or later, sample.safetensors (features and the J the engine computed for them).
This script builds the estimator as a torch.nn.Module with the same names, loads the weights,
scripts it (torch.jit.script), writes DIR/estimator.pt, checks it against the sample (the largest
difference relative to the largest |J|, at most 1e-5) and records the check and the file's
SHA-256 in estimator.json.

  estimator = torch.jit.load("DIR/estimator.pt")
  j_levels = estimator([f0, f1, ...])     # one B x C x H x W tensor per feature level, in order

The architecture (plugins/common/estimator.cpp): 3x3 convolutions, conv C->W, norm, ReLU, `blocks`
residual blocks (conv-norm-ReLU-conv-norm + skip, ReLU), conv W->C, clamped to [-clamp, clamp];
norm group (GroupNorm with the largest group count <= 32 dividing W), batch (one BatchNorm2d per
feature level, the convolutions shared) or none.
"""
import json
import os
import struct
import sys
from typing import List

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_weights import sha256  # noqa: E402

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "I8": torch.int8, "BOOL": torch.bool}


def fail(msg):
    raise SystemExit(f"export_estimator: {msg}")


def read_safetensors(path):
    """Tensors and metadata of a safetensors file (little-endian header length, JSON, data)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    tensors = {}
    for key, e in header.items():
        start, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[start:end]), dtype=DTYPES[e["dtype"]]) if end > start else \
            torch.empty(0, dtype=DTYPES[e["dtype"]])
        tensors[key] = t.reshape(e["shape"])
    return tensors, meta


def make_norm(kind: str, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(width)
    if kind == "group":
        groups = min(32, width)
        while width % groups:
            groups -= 1
        return nn.GroupNorm(groups, width)
    if kind == "none":
        return nn.Identity()
    fail(f"unknown norm '{kind}'")


class LevelNorm(nn.Module):
    """norms.<i>: one per feature level (batch) or one for all (group, none)."""

    def __init__(self, kind: str, width: int, levels: int):
        super().__init__()
        n = max(1, levels) if kind == "batch" else 1
        self.norms = nn.ModuleList([make_norm(kind, width) for _ in range(n)])

    def forward(self, x: torch.Tensor, level: int) -> torch.Tensor:
        i = min(level, len(self.norms) - 1)
        out = x
        for k, norm in enumerate(self.norms):
            if k == i:
                out = norm(x)
        return out


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class ResidualBlock(nn.Module):
    def __init__(self, width: int, norm: str, levels: int):
        super().__init__()
        self.conv1 = conv3x3(width, width)
        self.norm1 = LevelNorm(norm, width, levels)
        self.conv2 = conv3x3(width, width)
        self.norm2 = LevelNorm(norm, width, levels)

    def forward(self, x: torch.Tensor, level: int) -> torch.Tensor:
        y = torch.relu(self.norm1(self.conv1(x), level))
        y = self.norm2(self.conv2(y), level)
        return torch.relu(x + y)


class Estimator(nn.Module):
    def __init__(self, channels: int, width: int, blocks: int, norm: str, clamp: float, levels: int):
        super().__init__()
        self.clamp = clamp
        self.levels = levels
        self.conv_in = conv3x3(channels, width)
        self.norm_in = LevelNorm(norm, width, levels)
        self.blocks = nn.ModuleList([ResidualBlock(width, norm, levels) for _ in range(blocks)])
        self.conv_out = conv3x3(width, channels)

    def level(self, f: torch.Tensor, level: int) -> torch.Tensor:
        x = torch.relu(self.norm_in(self.conv_in(f), level))
        for block in self.blocks:
            x = block(x, level)
        return torch.clamp(self.conv_out(x), -self.clamp, self.clamp)

    def forward(self, features: List[torch.Tensor]) -> List[torch.Tensor]:
        if len(features) != self.levels:
            raise ValueError("the estimator was fitted on a different number of feature levels")
        out: List[torch.Tensor] = []
        for i in range(len(features)):
            out.append(self.level(features[i], i))
        return out


def check(scripted, sample_path):
    """The largest |J_torchscript - J_engine| / max |J_engine| over the sample's levels."""
    tensors, meta = read_safetensors(sample_path)
    n = len(json.loads(meta["levels"]))
    with torch.no_grad():
        ours = scripted([tensors[f"feature.{i}"] for i in range(n)])
    worst = 0.0
    for i in range(n):
        want = tensors[f"J.{i}"].double()
        scale = max(want.abs().max().item(), 1e-12)
        worst = max(worst, (ours[i].double() - want).abs().max().item() / scale)
    return {"levels": n, "images": int(tensors["feature.0"].shape[0]), "max_relative_difference": worst}


def main():
    if len(sys.argv) != 2:
        fail("usage: export_estimator.py DIR (run by featjnd-engine export-estimator)")
    out = sys.argv[1]
    meta_path = os.path.join(out, "estimator.json")
    with open(meta_path) as f:
        meta = json.load(f)
    c = meta["estimator"]
    model = Estimator(c["channels"], c["width"], c["blocks"], c["norm"], float(c["clamp"]), c.get("levels", 1))
    weights, _ = read_safetensors(os.path.join(out, "estimator.safetensors"))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        fail(f"the weights do not fit the configuration: missing {missing[:3]}, unexpected {unexpected[:3]}")
    scripted = torch.jit.script(model.eval())
    scripted.save(os.path.join(out, "estimator.pt"))
    meta["files"]["estimator.pt"] = sha256(os.path.join(out, "estimator.pt"))
    meta["versions"]["torch"] = torch.__version__
    sample = os.path.join(out, "sample.safetensors")
    if os.path.exists(sample):
        meta["check"] = check(torch.jit.load(os.path.join(out, "estimator.pt")), sample)
        if meta["check"]["max_relative_difference"] > 1e-5:
            fail(f"the TorchScript estimator differs from the engine's J by "
                 f"{meta['check']['max_relative_difference']:.3g} of the largest |J|")
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    d = meta.get("check", {}).get("max_relative_difference")
    print(f"estimator.pt: J within {d:.2e} of the engine's" if d is not None else
          "estimator.pt written (the run has no sample to check it against)")


if __name__ == "__main__":
    main()
