#!/usr/bin/env python3
"""tools/export_weights.py's translations, checked by computing with both layouts.

mmdetection is not installable here, so its two layout differences that change numbers are
rebuilt from plain torch and compared against the torchvision/timm computation on the translated
weights: Swin's PatchMerging (nn.Unfold order vs. concatenation order) and PVTv2's attention
(nn.MultiheadAttention's packed in_proj vs. timm's q and kv) and 1x1-conv FFN. Key names are
checked against the engine's own (torchvision/timm) names. Also: the Mask R-CNN export loads
into torchvision's backbone names.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import export_weights as ew  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torchvision.models.swin_transformer import PatchMerging  # noqa: E402

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def swin_patch_merging():
    torch.manual_seed(0)
    C = 8
    x = torch.randn(2, 6, 10, C)  # B, H, W, C
    # mmdetection: nn.Unfold(2, stride 2) over B,C,H,W -> (B, 4C, L), channel c*4 + k; LayerNorm(4C); Linear
    mm_norm_w, mm_norm_b = torch.randn(4 * C), torch.randn(4 * C)
    mm_red = torch.randn(2 * C, 4 * C)
    u = F.unfold(x.permute(0, 3, 1, 2), kernel_size=2, stride=2).transpose(1, 2)
    ref = F.linear(F.layer_norm(u, (4 * C,), mm_norm_w, mm_norm_b), mm_red)
    ref = ref.reshape(2, 3, 5, 2 * C)
    state = {"stages.0.downsample.norm.weight": mm_norm_w, "stages.0.downsample.norm.bias": mm_norm_b,
             "stages.0.downsample.reduction.weight": mm_red}
    mapped = dict(ew.mmdet_swin_key(k, v) for k, v in state.items())
    check(set(mapped) == {"features.2.norm.weight", "features.2.norm.bias", "features.2.reduction.weight"},
          "swin: downsample keys -> features.2.{norm,reduction}")
    pm = PatchMerging(C)
    pm.load_state_dict({k[len("features.2."):]: v for k, v in mapped.items()})
    with torch.no_grad():
        ours = pm(x)
    check(torch.allclose(ours, ref, atol=1e-5), "swin: torchvision PatchMerging on translated weights == mmdetection's unfold version")
    names = {
        "patch_embed.projection.weight": "features.0.0.weight",
        "patch_embed.norm.bias": "features.0.2.bias",
        "stages.2.blocks.5.attn.w_msa.relative_position_bias_table": "features.5.5.attn.relative_position_bias_table",
        "stages.2.blocks.5.attn.w_msa.qkv.weight": "features.5.5.attn.qkv.weight",
        "stages.3.blocks.1.ffn.layers.0.0.weight": "features.7.1.mlp.0.weight",
        "stages.3.blocks.1.ffn.layers.1.bias": "features.7.1.mlp.3.bias",
        "stages.1.blocks.0.norm2.weight": "features.3.0.norm2.weight",
        "norm3.weight": "norm3.weight",
    }
    check(all(ew.mmdet_swin_key(k, torch.zeros(4))[0] == v for k, v in names.items()), "swin: block, embedding, norm names")


def pvt_attention_and_ffn():
    torch.manual_seed(1)
    C, heads = 16, 2
    x = torch.randn(2, 12, C)
    mha = torch.nn.MultiheadAttention(C, heads, batch_first=True).eval()
    conv1, conv2 = torch.nn.Conv2d(C, 4 * C, 1), torch.nn.Conv2d(4 * C, C, 1)
    state = {"layers.1.1.0.attn.attn.in_proj_weight": mha.in_proj_weight.detach(),
             "layers.1.1.0.attn.attn.in_proj_bias": mha.in_proj_bias.detach(),
             "layers.1.1.0.attn.attn.out_proj.weight": mha.out_proj.weight.detach(),
             "layers.1.1.0.attn.attn.out_proj.bias": mha.out_proj.bias.detach(),
             "layers.1.1.0.ffn.layers.0.weight": conv1.weight.detach(), "layers.1.1.0.ffn.layers.0.bias": conv1.bias.detach(),
             "layers.1.1.0.ffn.layers.4.weight": conv2.weight.detach(), "layers.1.1.0.ffn.layers.1.weight": torch.zeros(64, 1, 3, 3),
             "layers.0.0.projection.weight": torch.zeros(1), "layers.2.0.norm.bias": torch.zeros(1),
             "layers.3.2.weight": torch.zeros(1), "layers.1.1.0.attn.sr.weight": torch.zeros(1)}
    m = {}
    for k, v in state.items():
        m.update(dict(ew.mmdet_pvt_v2_key(k, v, state)))
    p = "stages.1.blocks.0."
    check({"patch_embed.proj.weight", "stages.2.downsample.norm.bias", "stages.3.norm.weight", p + "attn.sr.weight",
           p + "mlp.dwconv.weight", p + "mlp.fc1.weight", p + "mlp.fc2.weight", p + "attn.q.weight", p + "attn.kv.weight",
           p + "attn.proj.weight"} <= set(m), "pvt_v2: timm names")
    with torch.no_grad():
        ref, _ = mha(x, x, x)
        # timm: q = Linear(C, C), kv = Linear(C, 2C) reshaped (B, N, 2, heads, d)
        q = F.linear(x, m[p + "attn.q.weight"], m[p + "attn.q.bias"]).reshape(2, 12, heads, C // heads).transpose(1, 2)
        kv = F.linear(x, m[p + "attn.kv.weight"], m[p + "attn.kv.bias"]).reshape(2, 12, 2, heads, C // heads).permute(2, 0, 3, 1, 4)
        a = F.softmax(q @ kv[0].transpose(-2, -1) * (C // heads) ** -0.5, dim=-1) @ kv[1]
        ours = F.linear(a.transpose(1, 2).reshape(2, 12, C), m[p + "attn.proj.weight"], m[p + "attn.proj.bias"])
        check(torch.allclose(ours, ref, atol=1e-5), "pvt_v2: timm q/kv attention on translated weights == nn.MultiheadAttention")
        img = torch.randn(2, C, 3, 4)
        ref = conv2(conv1(img))
        t = img.flatten(2).transpose(1, 2)
        t = F.linear(F.linear(t, m[p + "mlp.fc1.weight"], m[p + "mlp.fc1.bias"]), m[p + "mlp.fc2.weight"], conv2.bias)
        check(torch.allclose(t.transpose(1, 2).reshape(2, C, 3, 4), ref, atol=1e-5), "pvt_v2: Linear fc1/fc2 == mmdetection's 1x1 convs")


def maskrcnn():
    import torchvision
    model = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    out = ew.from_torchvision_maskrcnn(model.state_dict())
    body = set(torchvision.models.resnet50(weights=None).state_dict()) - {"fc.weight", "fc.bias"}
    check(body <= set(out), "maskrcnn: every resnet50 key at the top level")
    check(all(k.startswith(("fpn.inner_blocks", "fpn.layer_blocks", "rpn.", "roi_heads.")) for k in set(out) - body),
          "maskrcnn: the rest under fpn.*, rpn.*, roi_heads.*")


def mmdet_heads():
    state = {"rpn_head.rpn_conv.weight": torch.zeros(256, 256, 3, 3), "rpn_head.rpn_cls.bias": torch.zeros(3),
             "roi_head.bbox_head.shared_fcs.1.weight": torch.zeros(1024, 1024),
             "roi_head.bbox_head.fc_cls.weight": torch.arange(81.0).view(81, 1),
             "roi_head.bbox_head.fc_reg.bias": torch.ones(320),
             "roi_head.mask_head.convs.3.conv.weight": torch.zeros(256, 256, 3, 3),
             "roi_head.mask_head.upsample.bias": torch.zeros(256),
             "roi_head.mask_head.conv_logits.weight": torch.ones(80, 256, 1, 1)}
    m = ew.mmdet_head_keys(state)
    check(set(m) == {"rpn.head.conv.0.0.weight", "rpn.head.cls_logits.bias", "roi_heads.box_head.fc7.weight",
                     "roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.bbox_pred.bias",
                     "roi_heads.mask_head.3.0.weight", "roi_heads.mask_predictor.conv5_mask.bias",
                     "roi_heads.mask_predictor.mask_fcn_logits.weight"}, "mmdet heads: torchvision names")
    cls = m["roi_heads.box_predictor.cls_score.weight"].view(-1)
    check(cls[0] == 80 and cls[1] == 0 and cls[80] == 79, "mmdet heads: background row moved first")
    reg = m["roi_heads.box_predictor.bbox_pred.bias"]
    check(reg.shape[0] == 324 and reg[:4].abs().sum() == 0 and reg[4:].eq(1).all(), "mmdet heads: a zero background box")
    logits = m["roi_heads.mask_predictor.mask_fcn_logits.weight"]
    check(logits.shape[0] == 81 and logits[0].abs().sum() == 0, "mmdet heads: a zero background mask channel")


def round_trips():
    """to_mmdet_* (tools/make_standins.py's mmdetection-layout checkpoints) then from_mmdet gives
    back every tensor of the library's own model: the two directions are inverses."""
    import timm
    import torchvision
    torch.manual_seed(2)
    swin = {k: v for k, v in torchvision.models.swin_t(weights=None).state_dict().items() if not k.startswith(("norm.", "head."))}
    for i, c in enumerate((96, 192, 384, 768)):
        swin[f"norm{i}.weight"], swin[f"norm{i}.bias"] = torch.randn(c), torch.randn(c)
    mm = {"backbone." + k2: v2 for k2, v2 in (ew.to_mmdet_swin_key(k, v) for k, v in swin.items())}
    back = ew.from_mmdet(mm, "swin")
    check(set(back) == set(swin) and all(torch.equal(back[k], swin[k]) for k in swin), "swin: to_mmdet then from_mmdet is the identity")
    pvt = {k: v for k, v in timm.create_model("pvt_v2_b1", pretrained=False).state_dict().items() if not k.startswith("head.")}
    back = ew.from_mmdet({"backbone." + k: v for k, v in ew.to_mmdet_pvt_v2(pvt).items()}, "pvt_v2")
    check(set(back) == set(pvt) and all(torch.equal(back[k], pvt[k]) for k in pvt), "pvt_v2: to_mmdet then from_mmdet is the identity")
    model = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=81)
    heads = {k: v for k, v in model.state_dict().items() if k.startswith(("rpn.", "roi_heads."))}
    back = ew.mmdet_head_keys(ew.to_mmdet_heads(heads))
    # mmdetection has no background box or mask: those rows come back as zeros.
    for k in ("roi_heads.box_predictor.bbox_pred.weight", "roi_heads.box_predictor.bbox_pred.bias"):
        heads[k] = torch.cat([torch.zeros_like(heads[k][:4]), heads[k][4:]])
    for k in ("roi_heads.mask_predictor.mask_fcn_logits.weight", "roi_heads.mask_predictor.mask_fcn_logits.bias"):
        heads[k] = torch.cat([torch.zeros_like(heads[k][:1]), heads[k][1:]])
    check(set(back) == set(heads) and all(torch.equal(back[k], heads[k]) for k in heads),
          "heads: to_mmdet then mmdet_head_keys is the identity (background box and mask rows zero)")


swin_patch_merging()
pvt_attention_and_ffn()
mmdet_heads()
maskrcnn()
round_trips()
sys.exit(1 if failures else 0)
