#!/usr/bin/env python3
"""The users' alternative to featjnd-bench-model: the same two workloads in PyTorch, eager and
torch.compile'd, on the same device, so that the engine's throughput has a peer.

  tools/bench/torch_peer.py --model resnet50 [--device cuda:0] [--batch 256] [--dtype bf16|fp32]
                            [--mode eager|compile|both] [--iters 20] [--warmup 5] [--json]

  frozen inference  torchvision's model (random weights), eval, no gradients: backbone + head
  FeatJND step      the frozen backbone and clean head without gradients, then the estimator of
                    PAPER.md (3x3 convs: C->256, GroupNorm, ReLU, 2 residual blocks, 256->C,
                    clamped) on the split features, the head on F + J, the loss
                    T^2 KL(softmax(z/T) || softmax(z'/T)) - lambda * mean|J|, backward, gradient
                    clipping and Adam, as featjnd-bench-model's step
The split is the paper's: ResNet after layer4, Swin after the final norm (B x C x 7 x 7). bf16
casts the weights and the images, as featjnd-bench-model --bf16 does. Images per second, the
minimum and median over --iters timed iterations (each synchronised).
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class Estimator(nn.Module):
    def __init__(self, channels, width=256, blocks=2, clamp=10.0):
        super().__init__()
        self.clamp = clamp
        self.conv_in = nn.Conv2d(channels, width, 3, padding=1)
        self.norm_in = nn.GroupNorm(32, width)
        self.blocks = nn.ModuleList(nn.ModuleDict({"conv1": nn.Conv2d(width, width, 3, padding=1),
                                                   "norm1": nn.GroupNorm(32, width),
                                                   "conv2": nn.Conv2d(width, width, 3, padding=1),
                                                   "norm2": nn.GroupNorm(32, width)}) for _ in range(blocks))
        self.conv_out = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x):
        h = F.relu(self.norm_in(self.conv_in(x)))
        for b in self.blocks:
            h = F.relu(h + b["norm2"](b["conv2"](F.relu(b["norm1"](b["conv1"](h))))))
        return self.conv_out(h).clamp(-self.clamp, self.clamp)


def split_model(name):
    """(features: images -> split features B x C x H x W, head: features -> logits)."""
    m = getattr(torchvision.models, name)(weights=None)
    if name.startswith("resnet"):
        body = nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3, m.layer4)
        head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), m.fc)
    elif name.startswith("swin"):
        body = nn.Sequential(m.features, m.norm, m.permute)
        head = nn.Sequential(m.avgpool, m.flatten, m.head)
    else:
        raise SystemExit(f"torch_peer: --model {name}: expected resnet18, resnet50, swin_t, swin_s or swin_b")
    return body, head


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(fn, batch, device, warmup, iters):
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return batch / min(times), batch / statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--mode", choices=["eager", "compile", "both"], default="both")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="one JSON line instead of text")
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    torch.manual_seed(0)
    body, head = split_model(args.model)
    body, head = body.to(device, dtype).eval().requires_grad_(False), head.to(device, dtype).eval().requires_grad_(False)
    images = torch.randn(args.batch, 3, args.size, args.size, device=device, dtype=dtype)
    with torch.no_grad():
        channels = body(images[:1]).shape[1]
    est = Estimator(channels).to(device, dtype).train()
    opt = torch.optim.Adam(est.parameters(), lr=1e-4)
    T, lam = 1.0, 0.1

    def infer(b, h):
        with torch.no_grad():
            return h(b(images))

    def step(b, h, e):
        with torch.no_grad():
            f = b(images)
            clean = h(f)
        j = e(f)
        z = h(f + j)
        loss = T * T * F.kl_div(F.log_softmax(z.float() / T, 1), F.log_softmax(clean.float() / T, 1),
                                log_target=True, reduction="batchmean") - lam * j.abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(e.parameters(), 1.0)
        opt.step()

    results = {"model": args.model, "device": str(device), "batch": args.batch, "dtype": args.dtype,
               "threads": torch.get_num_threads(), "torch": torch.__version__}
    modes = ["eager", "compile"] if args.mode == "both" else [args.mode]
    for mode in modes:
        b, h, e = body, head, est
        if mode == "compile":
            b, h, e = torch.compile(body), torch.compile(head), torch.compile(est)
        t0 = time.perf_counter()
        try:
            infer(b, h)  # the first call compiles
            step(b, h, e)
        except Exception as err:  # noqa: BLE001 - a compiler that fails is a result to report, in one line
            first_line = next((l for l in str(err).splitlines() if l.strip()), type(err).__name__)
            results[mode] = {"error": f"{type(err).__name__}: {first_line[:300]}"}
            continue
        first = time.perf_counter() - t0
        results[mode] = {"inference_img_s": rate(lambda: infer(b, h), args.batch, device, args.warmup, args.iters),
                         "step_img_s": rate(lambda: step(b, h, e), args.batch, device, args.warmup, args.iters),
                         "first_call_s": first}
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"PyTorch {torch.__version__} peer: {args.model}, {device}, batch {args.batch}, {args.size}x{args.size}, "
          f"{args.dtype}, {results['threads']} threads (img/s, min time / median time)")
    for mode in modes:
        r = results[mode]
        if "error" in r:
            print(f"  {mode:8s} failed: {r['error']}")
            continue
        print(f"  {mode:8s} frozen inference {r['inference_img_s'][0]:10.1f} / {r['inference_img_s'][1]:10.1f}   "
              f"FeatJND step {r['step_img_s'][0]:10.1f} / {r['step_img_s'][1]:10.1f}   "
              f"(first call {r['first_call_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
