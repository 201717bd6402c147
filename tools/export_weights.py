#!/usr/bin/python3
"""Export torchvision classifier weights to safetensors, the format featjnd-engine loads.

The keys are the model's own state-dict keys (conv1.weight, layer1.0.bn1.running_mean, fc.bias,
...), which are also the engine's module names, so nothing is renamed.

  # the paper's ImageNet weights (needs internet once, or a downloaded .pth via --checkpoint)
  tools/export_weights.py --model resnet50 --weights DEFAULT --out weights/resnet50.safetensors
  # random initialisation with a fixed seed (test fixtures)
  tools/export_weights.py --model resnet18 --weights random --seed 0 --out r18.safetensors

Uses Debian's python3-torch and python3-torchvision; the format is written directly (an 8-byte
little-endian header length, a JSON header, raw little-endian tensor data).
"""
import argparse
import json
import os
import struct
import sys

DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
}


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        dtype = DTYPES.get(str(t.dtype).replace("torch.", ""))
        if dtype is None:
            raise SystemExit(f"export_weights: tensor {name} has unsupported dtype {t.dtype}")
        # bfloat16 has no numpy type: reinterpret its bits as int16.
        data = (t.view(__import__("torch").int16) if dtype == "BF16" else t).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="torchvision model name: resnet18, resnet34, resnet50, swin_t, ...")
    ap.add_argument("--weights", default="DEFAULT",
                    help="DEFAULT (torchvision's pretrained weights), a weights enum name, or 'random'")
    ap.add_argument("--checkpoint", help="a torchvision .pth state dict to load instead of downloading")
    ap.add_argument("--seed", type=int, default=0, help="seed for --weights random")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import torch
    import torchvision

    torch.manual_seed(args.seed)
    try:
        builder = getattr(torchvision.models, args.model)
    except AttributeError:
        raise SystemExit(f"export_weights: torchvision has no model '{args.model}'")
    if args.checkpoint:
        model = builder(weights=None)
        model.load_state_dict(torch.load(args.checkpoint, map_location="cpu"))
    elif args.weights == "random":
        model = builder(weights=None)
    else:
        model = builder(weights=args.weights)
    state = model.state_dict()
    write_safetensors(args.out, state, {"source": f"torchvision {torchvision.__version__} {args.model}",
                                        "weights": args.checkpoint or args.weights})
    print(f"{args.out}: {len(state)} tensors from torchvision {args.model} ({args.checkpoint or args.weights})")


if __name__ == "__main__":
    sys.exit(main())
