#!/usr/bin/env python3
"""Export checkpoints to safetensors with the engine's parameter names.

The engine's modules carry torchvision's names (ResNet, Swin, Mask R-CNN) and timm's (PVTv2), so
those checkpoints export unchanged; mmdetection's Mask R-CNN checkpoints (the paper's Swin-T/S and
PVTv2-b1/b2/b3 detectors) are translated key by key, documented in mmdet_swin_key / mmdet_pvt_v2_key.

  # torchvision (needs internet once, or a downloaded .pth via --checkpoint)
  tools/export_weights.py --model resnet50 --weights DEFAULT --out weights/resnet50.safetensors
  tools/export_weights.py --model swin_t --weights DEFAULT --out weights/swin_t.safetensors
  tools/export_weights.py --model maskrcnn_resnet50_fpn --weights DEFAULT --out weights/maskrcnn_r50.safetensors
  # timm (when timm is installed)
  tools/export_weights.py --timm pvt_v2_b2 --out weights/pvt_v2_b2.safetensors
  # mmdetection Mask R-CNN checkpoints (a downloaded .pth; mmdetection itself is not needed)
  tools/export_weights.py --mmdet mask_rcnn_swin-t-p4-w7_fpn_1x_coco.pth --arch swin --out weights/mrcnn_swin_t.safetensors
  tools/export_weights.py --mmdet mask-rcnn_pvt-v2-b2_fpn_1x_coco.pth --arch pvt_v2 --out weights/mrcnn_pvt_v2_b2.safetensors
  # random initialisation with a fixed seed (test fixtures)
  tools/export_weights.py --model resnet18 --weights random --seed 0 --out r18.safetensors

Mask R-CNN layout: the backbone's keys at the top level (torchvision's backbone.body.* -> *, and for
mmdetection backbone.* -> the torchvision/timm name), the FPN under fpn.* (torchvision) or neck.*
(mmdetection), and the detection heads under torchvision's names (rpn.*, roi_heads.*; mmdetection's
rpn_head.* / roi_head.* are renamed, with its background-last classifier reordered), read by the
detection task plugin (num_classes 81 for mmdetection's 80 classes).
torchvision's FrozenBatchNorm2d has no num_batches_tracked; a zero is written for each, as
BatchNorm2d expects one.

Runs in the project's environment (.venv/bin/python: torch, torchvision, timm); the format is
written directly (an 8-byte little-endian header length, a JSON header, raw little-endian tensor
data).
"""
import argparse
import hashlib
import json
import os
import re
import struct
import sys

DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
}


def sha256(path):
    """A file's SHA-256, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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



# ---- mmdetection -> engine names -------------------------------------------------------------

def unfold_to_concat_order(w, axis):
    """mmdetection's PatchMerging gathers each 2x2 neighbourhood with nn.Unfold: channel c*4 + k,
    k over (0,0), (0,1), (1,0), (1,1). torchvision and the official Swin concatenate x0 (0::2,
    0::2), x1 (1::2, 0::2), x2 (0::2, 1::2), x3 (1::2, 1::2): channel k*C + c. Undo the first."""
    import torch
    if axis == 1:  # reduction.weight: (out, 4C)
        out, n = w.shape
        return w.reshape(out, n // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 2).reshape(out, n)
    n = w.shape[0]  # norm.weight / norm.bias: (4C,)
    return w.reshape(n // 4, 4)[:, [0, 2, 1, 3]].transpose(0, 1).reshape(n)


def mmdet_swin_key(k, v):
    """backbone.* of mmdetection's SwinTransformer -> torchvision's swin_* names (features.*)."""
    m = re.match(r"patch_embed\.(projection|norm)\.(.+)", k)
    if m:
        return f"features.0.{0 if m.group(1) == 'projection' else 2}.{m.group(2)}", v
    m = re.match(r"stages\.(\d+)\.downsample\.(reduction|norm)\.(.+)", k)
    if m:
        s, part, rest = int(m.group(1)), m.group(2), m.group(3)
        return f"features.{2 * s + 2}.{part}.{rest}", unfold_to_concat_order(v, 1 if part == "reduction" else 0)
    m = re.match(r"stages\.(\d+)\.blocks\.(\d+)\.(.+)", k)
    if m:
        s, b, rest = int(m.group(1)), m.group(2), m.group(3)
        rest = rest.replace("attn.w_msa.", "attn.").replace("ffn.layers.0.0.", "mlp.0.").replace("ffn.layers.1.", "mlp.3.")
        if rest.endswith("relative_position_index"):
            # The same index (one bias-table row per pair of window positions): mmdetection keeps it
            # N x N, torchvision flat.
            v = v.reshape(-1)
        return f"features.{2 * s + 1}.{b}.{rest}", v
    if re.match(r"norm\d\.", k):  # the per-output norms of the detection backbone keep their names
        return k, v
    raise KeyError(k)


def mmdet_pvt_v2_key(k, v, state):
    """backbone.* of mmdetection's PyramidVisionTransformerV2 -> timm's pvt_v2 names. Returns a
    list of (key, value): mmdetection's nn.MultiheadAttention holds q, k and v in one in_proj,
    timm splits it into q and kv; its FFN uses 1x1 convs where timm has Linear layers."""
    m = re.match(r"layers\.(\d+)\.0\.(projection|norm)\.(.+)", k)
    if m:
        i, part, rest = int(m.group(1)), "proj" if m.group(2) == "projection" else "norm", m.group(3)
        return [(f"patch_embed.{part}.{rest}" if i == 0 else f"stages.{i}.downsample.{part}.{rest}", v)]
    m = re.match(r"layers\.(\d+)\.2\.(.+)", k)
    if m:
        return [(f"stages.{m.group(1)}.norm.{m.group(2)}", v)]
    m = re.match(r"layers\.(\d+)\.1\.(\d+)\.(.+)", k)
    if not m:
        raise KeyError(k)
    base, rest = f"stages.{m.group(1)}.blocks.{m.group(2)}.", m.group(3)
    if rest.startswith("attn.attn.in_proj_"):
        kind = rest[len("attn.attn.in_proj_"):]  # weight | bias
        c = v.shape[0] // 3
        return [(base + f"attn.q.{kind}", v[:c]), (base + f"attn.kv.{kind}", v[c:])]
    if rest.startswith("attn.attn.out_proj."):
        return [(base + "attn.proj." + rest[len("attn.attn.out_proj."):], v)]
    m2 = re.match(r"ffn\.layers\.(\d)\.(.+)", rest)
    if m2:
        name = {"0": "mlp.fc1", "1": "mlp.dwconv", "4": "mlp.fc2"}[m2.group(1)]
        if name != "mlp.dwconv" and m2.group(2) == "weight":
            v = v.reshape(v.shape[0], v.shape[1])  # 1x1 conv -> Linear
        return [(base + f"{name}.{m2.group(2)}", v)]
    return [(base + rest, v)]  # norm1, norm2, attn.sr, attn.norm


def mmdet_head_keys(state):
    """mmdetection's Mask R-CNN heads -> torchvision's names. mmdetection's classifier has the
    background last (80 + 1 rows) and class-specific boxes and masks without one; torchvision puts
    the background first. Returns (key, value) pairs; mmdetection's 80 contiguous labels stay
    contiguous (label i + 1)."""
    import torch
    out = {}
    for k, v in state.items():
        if k.startswith("rpn_head."):
            k2 = (k.replace("rpn_head.rpn_conv.", "rpn.head.conv.0.0.").replace("rpn_head.rpn_cls.", "rpn.head.cls_logits.")
                  .replace("rpn_head.rpn_reg.", "rpn.head.bbox_pred."))
            out[k2] = v
        elif k.startswith("roi_head.bbox_head."):
            rest = k[len("roi_head.bbox_head."):]
            if rest.startswith("shared_fcs."):
                i, kind = rest.split(".")[1], rest.split(".")[2]
                out[f"roi_heads.box_head.fc{6 + int(i)}.{kind}"] = v
            elif rest.startswith("fc_cls."):
                out["roi_heads.box_predictor.cls_score." + rest.split(".")[1]] = torch.cat([v[-1:], v[:-1]])
            elif rest.startswith("fc_reg."):
                out["roi_heads.box_predictor.bbox_pred." + rest.split(".")[1]] = torch.cat([torch.zeros_like(v[:4]), v])
        elif k.startswith("roi_head.mask_head."):
            rest = k[len("roi_head.mask_head."):]
            if rest.startswith("convs."):
                i, kind = rest.split(".")[1], rest.split(".")[-1]
                out[f"roi_heads.mask_head.{i}.0.{kind}"] = v
            elif rest.startswith("upsample."):
                out["roi_heads.mask_predictor.conv5_mask." + rest.split(".")[-1]] = v
            elif rest.startswith("conv_logits."):
                out["roi_heads.mask_predictor.mask_fcn_logits." + rest.split(".")[-1]] = torch.cat([torch.zeros_like(v[:1]), v])
    return out


def from_mmdet(state, arch):
    out = mmdet_head_keys(state)
    for k, v in state.items():
        if k.startswith(("rpn_head.", "roi_head.")):
            continue
        if k.startswith("backbone."):
            k = k[len("backbone."):]
            if arch == "swin":
                pairs = [mmdet_swin_key(k, v)]
            else:
                pairs = mmdet_pvt_v2_key(k, v, state)
            for nk, nv in pairs:
                out[nk] = nv.contiguous()
        else:  # neck.*: mmdetection's names, as the engine's swin/pvt_v2 necks use them
            out[k] = v
    return out


# ---- engine names -> mmdetection's layout (the inverse of from_mmdet) ------------------------
# tools/make_standins.py writes mmdetection-layout checkpoints of the paper's detectors from the
# real model definitions (torchvision's Swin, timm's PVTv2, torchvision's FPN and Mask R-CNN heads)
# so that the stand-ins go through --mmdet, the path real checkpoints take.

def concat_to_unfold_order(w, axis):
    """The inverse of unfold_to_concat_order (the permutation swaps the middle two of four)."""
    if axis == 1:
        out, n = w.shape
        return w.reshape(out, 4, n // 4).transpose(1, 2)[:, :, [0, 2, 1, 3]].reshape(out, n)
    n = w.shape[0]
    return w.reshape(4, n // 4).transpose(0, 1)[:, [0, 2, 1, 3]].reshape(n)


def to_mmdet_swin_key(k, v):
    """torchvision's swin_* names (features.*, norm0..3) -> mmdetection's SwinTransformer."""
    m = re.match(r"features\.0\.(0|2)\.(.+)", k)
    if m:
        return f"patch_embed.{'projection' if m.group(1) == '0' else 'norm'}.{m.group(2)}", v
    m = re.match(r"features\.(\d+)\.(reduction|norm)\.(.+)", k)
    if m and int(m.group(1)) % 2 == 0:
        s, part = (int(m.group(1)) - 2) // 2, m.group(2)
        return f"stages.{s}.downsample.{part}.{m.group(3)}", concat_to_unfold_order(v, 1 if part == "reduction" else 0)
    m = re.match(r"features\.(\d+)\.(\d+)\.(.+)", k)
    if m:
        s, rest = (int(m.group(1)) - 1) // 2, m.group(3)
        rest = rest.replace("attn.", "attn.w_msa.").replace("mlp.0.", "ffn.layers.0.0.").replace("mlp.3.", "ffn.layers.1.")
        if rest.endswith("relative_position_index"):
            n = int(round(v.numel() ** 0.5))
            v = v.reshape(n, n)
        return f"stages.{s}.blocks.{m.group(2)}.{rest}", v
    if re.match(r"norm\d\.", k):
        return k, v
    raise KeyError(k)


def to_mmdet_pvt_v2(state):
    """timm's pvt_v2 names -> mmdetection's PyramidVisionTransformerV2 (q and kv packed into the
    MultiheadAttention's in_proj, Linear fc1/fc2 as 1x1 convs)."""
    import torch
    out = {}
    for k, v in state.items():
        m = re.match(r"(patch_embed|stages\.(\d+)\.downsample)\.(proj|norm)\.(.+)", k)
        if m:
            i = 0 if m.group(1) == "patch_embed" else int(m.group(2))
            out[f"layers.{i}.0.{'projection' if m.group(3) == 'proj' else 'norm'}.{m.group(4)}"] = v
            continue
        m = re.match(r"stages\.(\d+)\.norm\.(.+)", k)
        if m:
            out[f"layers.{m.group(1)}.2.{m.group(2)}"] = v
            continue
        m = re.match(r"stages\.(\d+)\.blocks\.(\d+)\.(.+)", k)
        if not m:
            raise KeyError(k)
        base, rest = f"layers.{m.group(1)}.1.{m.group(2)}.", m.group(3)
        if rest.startswith("attn.kv."):
            continue  # packed with attn.q below
        if rest.startswith("attn.q."):
            kind = rest[len("attn.q."):]
            kv = state[f"stages.{m.group(1)}.blocks.{m.group(2)}.attn.kv.{kind}"]
            out[base + f"attn.attn.in_proj_{kind}"] = torch.cat([v, kv])
        elif rest.startswith("attn.proj."):
            out[base + "attn.attn.out_proj." + rest[len("attn.proj."):]] = v
        elif rest.startswith(("mlp.fc1.", "mlp.fc2.", "mlp.dwconv.")):
            layer = {"fc1": "0", "dwconv": "1", "fc2": "4"}[rest.split(".")[1]]
            kind = rest.split(".")[-1]
            if layer != "1" and kind == "weight":
                v = v.reshape(v.shape[0], v.shape[1], 1, 1)  # Linear -> 1x1 conv
            out[base + f"ffn.layers.{layer}.{kind}"] = v
        else:
            out[base + rest] = v  # norm1, norm2, attn.sr, attn.norm
    return out


def mmdet_neck_keys(fpn_state):
    """torchvision FeaturePyramidNetwork keys -> mmdetection's neck.lateral_convs.{i}.conv /
    neck.fpn_convs.{i}.conv (the engine's swin/pvt_v2 necks carry these names)."""
    out = {}
    for k, v in fpn_state.items():
        k = re.sub(r"\.(\d+)\.0\.", r".\1.conv.", k.replace("inner_blocks.", "lateral_convs.").replace("layer_blocks.", "fpn_convs."))
        out["neck." + k] = v
    return out


def to_mmdet_heads(state):
    """torchvision's Mask R-CNN heads (rpn.*, roi_heads.*; background first, num_classes rows)
    -> mmdetection's (background last in fc_cls, none in fc_reg and conv_logits)."""
    import torch
    out = {}
    rename = {"rpn.head.conv.0.0.": "rpn_head.rpn_conv.", "rpn.head.cls_logits.": "rpn_head.rpn_cls.",
              "rpn.head.bbox_pred.": "rpn_head.rpn_reg.", "roi_heads.box_head.fc6.": "roi_head.bbox_head.shared_fcs.0.",
              "roi_heads.box_head.fc7.": "roi_head.bbox_head.shared_fcs.1.",
              "roi_heads.mask_predictor.conv5_mask.": "roi_head.mask_head.upsample."}
    for k, v in state.items():
        for old, new in rename.items():
            if k.startswith(old):
                out[new + k[len(old):]] = v
                break
        else:
            m = re.match(r"roi_heads\.mask_head\.(\d+)\.0\.(.+)", k)
            if m:
                out[f"roi_head.mask_head.convs.{m.group(1)}.conv.{m.group(2)}"] = v
            elif k.startswith("roi_heads.box_predictor.cls_score."):
                out["roi_head.bbox_head.fc_cls." + k.split(".")[-1]] = torch.cat([v[1:], v[:1]])
            elif k.startswith("roi_heads.box_predictor.bbox_pred."):
                out["roi_head.bbox_head.fc_reg." + k.split(".")[-1]] = v[4:]
            elif k.startswith("roi_heads.mask_predictor.mask_fcn_logits."):
                out["roi_head.mask_head.conv_logits." + k.split(".")[-1]] = v[1:]
            else:
                raise KeyError(k)
    return out


def from_torchvision_maskrcnn(state):
    out = {}
    for k, v in state.items():
        if k.startswith("backbone.body."):
            k = k[len("backbone.body."):]
        elif k.startswith("backbone.fpn."):
            k = "fpn." + k[len("backbone.fpn."):]
        out[k] = v
    import torch
    for k in list(out):  # FrozenBatchNorm2d -> BatchNorm2d
        if k.endswith(".running_var") and k[:-len("running_var")] + "num_batches_tracked" not in out:
            out[k[:-len("running_var")] + "num_batches_tracked"] = torch.zeros((), dtype=torch.int64)
    return out


# ---- the weights' own evaluation transform (plugins/common/preprocess.h reads it) ----------

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def recipe(**fields):
    """A full recipe: torchvision's ImageNet classifier transform, then `fields`."""
    r = {"resize": 256, "max_size": 0, "crop": 224, "interpolation": "bilinear", "antialias": True,
         "resize_on": "uint8", "size_rounding": "floor", "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
         "channel_order": "rgb", "pad_divisor": 0}
    r.update(fields)
    return r


def torchvision_recipe(weights):
    """From a torchvision weights entry's own transforms() (ImageClassification)."""
    t = weights.transforms()
    return recipe(resize=int(t.resize_size[0]), crop=int(t.crop_size[0]), interpolation=t.interpolation.value,
                  antialias=bool(t.antialias), mean=[float(v) for v in t.mean], std=[float(v) for v in t.std])


def torchvision_detection_recipe(model):
    """From the model's GeneralizedRCNNTransform: normalised first, then resized in floating point."""
    t = model.transform
    return recipe(resize=int(t.min_size[-1]), max_size=int(t.max_size), crop=0, antialias=False, resize_on="float",
                  mean=[float(v) for v in t.image_mean], std=[float(v) for v in t.image_std],
                  pad_divisor=int(t.size_divisible))


def timm_recipe(model):
    """timm's eval transform: the shorter side to floor(size / crop_pct), centre crop, PIL resampling."""
    import math
    import timm.data
    cfg = timm.data.resolve_data_config({}, model=model)
    size = int(cfg["input_size"][-1])
    return recipe(resize=int(math.floor(size / cfg["crop_pct"])), crop=size, interpolation=cfg["interpolation"],
                  mean=[float(v) for v in cfg["mean"]], std=[float(v) for v in cfg["std"]])


def mmdet_recipe():
    """mmdetection's Mask R-CNN test pipeline: LoadImageFromFile (OpenCV), Resize(scale=(1333, 800),
    keep_ratio) with OpenCV's bilinear (no antialiasing; sides rounded), the data preprocessor's
    mean/std on 0-255 with bgr_to_rgb, Pad(size_divisor=32)."""
    return recipe(resize=800, max_size=1333, crop=0, antialias=False, size_rounding="round",
                  mean=[123.675 / 255, 116.28 / 255, 103.53 / 255], std=[58.395 / 255, 57.12 / 255, 57.375 / 255],
                  pad_divisor=32)


def load_checkpoint(path):
    import torch
    try:
        ckpt = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - one clear line, whatever torch raised
        raise SystemExit(f"export_weights: cannot read checkpoint {path}: {e}")
    for key in ("state_dict", "model"):
        if isinstance(ckpt, dict) and key in ckpt and isinstance(ckpt[key], dict):
            ckpt = ckpt[key]
    if not isinstance(ckpt, dict):
        raise SystemExit(f"export_weights: {path} holds no state dict")
    return ckpt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="torchvision model: resnet18/34/50, swin_t/s/b, maskrcnn_resnet50_fpn, ...")
    src.add_argument("--timm", help="timm model: pvt_v2_b1, pvt_v2_b2, pvt_v2_b3 (needs timm)")
    src.add_argument("--mmdet", help="an mmdetection Mask R-CNN checkpoint (.pth) to translate; see --arch")
    ap.add_argument("--arch", choices=["swin", "pvt_v2"], help="backbone of the --mmdet checkpoint")
    ap.add_argument("--weights", default="DEFAULT",
                    help="DEFAULT (pretrained weights), a torchvision weights enum name, or 'random'")
    ap.add_argument("--checkpoint", help="a .pth state dict to load instead of downloading (--model, --timm)")
    ap.add_argument("--seed", type=int, default=0, help="seed for --weights random")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import torch
    torch.manual_seed(args.seed)
    if args.mmdet:
        if not args.arch:
            raise SystemExit("export_weights: --mmdet needs --arch swin|pvt_v2")
        try:
            state = from_mmdet(load_checkpoint(args.mmdet), args.arch)
        except KeyError as e:
            raise SystemExit(f"export_weights: {args.mmdet}: unknown {args.arch} backbone key backbone.{e.args[0]}")
        source = f"mmdetection {args.arch} Mask R-CNN {os.path.basename(args.mmdet)}"
        preprocess = mmdet_recipe()
    elif args.timm:
        try:
            import timm
        except ImportError:
            raise SystemExit("export_weights: --timm needs the timm package (pip install timm where PyPI is reachable)")
        pretrained = args.weights != "random" and not args.checkpoint
        model = timm.create_model(args.timm, pretrained=pretrained)
        if args.checkpoint:
            model.load_state_dict(load_checkpoint(args.checkpoint))
        state = model.state_dict()
        source = f"timm {timm.__version__} {args.timm}"
        preprocess = timm_recipe(model)
    else:
        import torchvision
        try:
            builder = getattr(torchvision.models, args.model, None) or getattr(torchvision.models.detection, args.model)
        except AttributeError:
            raise SystemExit(f"export_weights: torchvision has no model '{args.model}'")
        # Detection builders would fetch ImageNet backbone weights unless told not to.
        extra = {"weights_backbone": None} if args.model in dir(torchvision.models.detection) else {}
        if args.checkpoint:
            model = builder(weights=None, **extra)
            model.load_state_dict(load_checkpoint(args.checkpoint))
        elif args.weights == "random":
            model = builder(weights=None, **extra)
        else:
            model = builder(weights=args.weights)
        state = model.state_dict()
        if args.model.startswith("maskrcnn_"):
            state = from_torchvision_maskrcnn(state)
            preprocess = torchvision_detection_recipe(model)
        else:
            # The named weights' transform; for random or a checkpoint, the architecture's
            # published (DEFAULT) weights' transform, which its checkpoints were measured with.
            entries = torchvision.models.get_model_weights(args.model)
            named = args.weights not in ("random", "DEFAULT") and not args.checkpoint
            preprocess = torchvision_recipe(entries[args.weights] if named else entries.DEFAULT)
        source = f"torchvision {torchvision.__version__} {args.model}"
    meta = {"source": source, "weights": args.checkpoint or args.mmdet or args.weights,
            "preprocess": json.dumps(preprocess)}
    # The head semantics a Mask R-CNN checkpoint was trained with; the detection task refuses a
    # spec whose roi_align_aligned / roi_sampling_ratio / anchor_rounding disagree.
    if args.mmdet:
        meta.update({"roi_align_aligned": "true", "roi_sampling_ratio": "0", "anchor_rounding": "false"})
    elif args.model and args.model.startswith("maskrcnn_"):
        meta.update({"roi_align_aligned": "false", "roi_sampling_ratio": "2", "anchor_rounding": "true"})
    write_safetensors(args.out, state, meta)
    print(f"{args.out}: {len(state)} tensors from {source}")


if __name__ == "__main__":
    sys.exit(main())
