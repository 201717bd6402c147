#!/usr/bin/env python3
"""Package a PyTorch model for the engine's `packaged` backbone, without writing C++.

A model package is a folder:
  trunk.pt      TorchScript: images (B x C x H x W) -> the feature levels at the split, each B x C x H x W
  head.pt       TorchScript: those levels -> logits (B x classes), differentiable (FeatJND's fit)
  package.json  input size, the evaluation transform, each level's name, shape, stride and layout,
                the number of classes, the library versions, the files' SHA-256

  # a timm or torchvision model, split after a module (its state-dict prefix)
  .venv/bin/python tools/export_model.py --timm convnext_tiny --pretrained --split stages.2 --out models/convnext_t
  .venv/bin/python tools/export_model.py --torchvision regnet_y_400mf --split trunk_output.block3 --out models/regnety
  # your own model: a factory in a Python file, your checkpoint, your input size
  .venv/bin/python tools/export_model.py --module my_net.py:build --checkpoint my_net.pth \\
      --input-size 3,64,64 --split layer3 --out models/my_net
  # several levels: --split a,b,c (the head must consume exactly these)
  # a torchvision Mask R-CNN with any backbone + FPN: its five levels feed the engine's heads
  .venv/bin/python tools/export_model.py --module examples/byom/maskrcnn_r18.py:build --detector --out models/mrcnn_r18

The split is made on the model's FX graph (torchvision's NodePathTracer, with timm's leaf modules):
the split tensor of a module is the output of its last operation, as torchvision's
create_feature_extractor defines it. The trunk is every operation the split tensors depend on;
the head is everything after them. A cut that a skip connection crosses (an operation after the
split reading a tensor from before it) has no head that takes only the split tensors, and is
refused naming both operations.

Layouts. The engine's levels are B x C x H x W. A split tensor that is B x H x W x C (timm's Swin
stages, `output_fmt` NHWC) is permuted; a token sequence B x N x C (ViT) is declared `tokens`: its
N - P patch tokens become a B x C x Gh x Gw map (the patch grid) and its P prefix tokens (class,
register, distillation tokens) a second level B x C x 1 x P named NAME.prefix. The head undoes
both, so the estimator and the quantizers see maps and the head sees what the model produced.

Detectors (--detector): the model is a torchvision Mask R-CNN (a backbone returning the five FPN
levels '0'..'3', 'pool', and rpn / roi_heads). The trunk is its backbone, scripted (any image size);
there is no head.pt: the engine's detection task runs its own Mask R-CNN heads, bit-compatible with
torchvision's, on the trunk's levels. maskrcnn.safetensors holds the trunk's tensors (under trunk.*)
and the heads' (rpn.*, roi_heads.*), with the model's transform and head semantics in its metadata:
give it as the packaged backbone's `weights`.

Packages are exported in eval mode and frozen: dropout and stochastic depth are gone, batch norm
uses its running statistics. The package is checked before it is written: head(trunk(x)) equals
the model's output, and the traced modules the eager ones on a second batch size (within 1e-6 of
the largest value).
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_weights import sha256  # noqa: E402

FORMAT, FORMAT_VERSION = "featjnd-model-package", 1


def fail(msg):
    raise SystemExit(f"export_model: {msg}")


# ---- the model -----------------------------------------------------------------------------

def build_model(args):
    """The model in eval mode, its source description and its evaluation transform."""
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from export_weights import load_checkpoint, timm_recipe, torchvision_recipe
    kwargs = {"num_classes": args.num_classes} if args.num_classes else {}
    recipe = None
    if args.timm:
        try:
            import timm
        except ImportError:
            fail("--timm needs the timm package")
        try:
            model = timm.create_model(args.timm, pretrained=args.pretrained, **kwargs)
        except RuntimeError as e:
            fail(f"timm cannot create '{args.timm}': {e}")
        source = {"library": "timm", "version": timm.__version__, "name": args.timm}
        recipe = timm_recipe(model)
    elif args.torchvision and args.detector:
        import torchvision
        from export_weights import torchvision_detection_recipe
        if args.torchvision not in torchvision.models.list_models(module=torchvision.models.detection):
            fail(f"torchvision has no detection model '{args.torchvision}'")
        model = torchvision.models.get_model(args.torchvision, weights="DEFAULT" if args.pretrained else None,
                                             weights_backbone=None, **kwargs)
        source = {"library": "torchvision", "version": torchvision.__version__, "name": args.torchvision}
        recipe = torchvision_detection_recipe(model)
    elif args.torchvision:
        import torchvision
        if args.torchvision not in torchvision.models.list_models(module=torchvision.models):
            fail(f"torchvision has no classification model '{args.torchvision}'")
        weights = "DEFAULT" if args.pretrained else None
        model = torchvision.models.get_model(args.torchvision, weights=weights, **kwargs)
        source = {"library": "torchvision", "version": torchvision.__version__, "name": args.torchvision}
        # The architecture's published weights' transform, which its checkpoints were measured with.
        recipe = torchvision_recipe(torchvision.models.get_model_weights(args.torchvision).DEFAULT)
    else:
        model, source = user_model(args.module, kwargs)
        if args.detector and hasattr(model, "transform"):
            from export_weights import torchvision_detection_recipe
            recipe = torchvision_detection_recipe(model)
    if args.checkpoint:
        try:
            model.load_state_dict(load_checkpoint(args.checkpoint))
        except RuntimeError as e:
            fail(f"{args.checkpoint} does not fit the model: {str(e).splitlines()[0]}")
        source["checkpoint"] = os.path.abspath(args.checkpoint)
        source["checkpoint_sha256"] = sha256(args.checkpoint)
    source["pretrained"] = bool(args.pretrained)
    if args.preprocess:
        recipe = dict(recipe or {}, **json.loads(args.preprocess))
    torch.manual_seed(args.seed)
    return model.eval(), source, recipe


def user_model(spec, kwargs):
    """`path/to/file.py:factory`: the factory called with no arguments (or num_classes)."""
    import importlib.util
    path, _, factory = spec.rpartition(":")
    if not path or not factory:
        fail(f"--module '{spec}': expected FILE.py:FACTORY")
    if not os.path.isfile(path):
        fail(f"--module: no file '{path}'")
    loaded = importlib.util.spec_from_file_location("featjnd_user_model", path)
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    if not callable(getattr(module, factory, None)):
        fail(f"--module: {path} defines no callable '{factory}'")
    return getattr(module, factory)(**kwargs), {"library": "user", "name": spec, "file_sha256": sha256(path)}


def input_shape(args, model):
    if args.input_size:
        try:
            c, h, w = (int(v) for v in args.input_size.split(","))
        except ValueError:
            fail(f"--input-size '{args.input_size}': expected C,H,W")
        return c, h, w
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return tuple(cfg.get("input_size", (3, 224, 224)))


# ---- the split ---------------------------------------------------------------------------

def trace(model):
    """The model's FX graph and, for each node, its qualified name (torchvision's convention)."""
    import torch.fx
    from torchvision.models.feature_extraction import NodePathTracer
    kwargs = {}
    try:
        from timm.layers import _fx
        kwargs = {"leaf_modules": list(_fx.get_notrace_modules()), "autowrap_functions": list(_fx.get_notrace_functions())}
    except ImportError:
        pass
    tracer = NodePathTracer(**kwargs)
    try:
        graph = tracer.trace(model)
    except Exception as e:  # noqa: BLE001 - FX raises many kinds; one line says which model and why
        fail(f"the model cannot be traced by torch.fx ({type(e).__name__}: {str(e).splitlines()[0]})")
    return torch.fx.GraphModule(tracer.root, graph), tracer.node_to_qualname


def split_nodes(gm, qualname, splits):
    """The last node of each split module, as create_feature_extractor picks it."""
    nodes = list(gm.graph.nodes)
    found = []
    for query in splits:
        depth = query.count(".")
        hit = None
        for n in reversed(nodes):
            q = qualname.get(n)
            if q is not None and ".".join(q.split(".")[: depth + 1]) == query:
                hit = n
                break
        if hit is None:
            tops = sorted(name for name, _ in gm.named_children())
            fail(f"--split '{query}' names no module of the model; its top-level modules: {', '.join(tops)}")
        found.append(hit)
    if len(set(found)) != len(found):
        fail(f"--split {','.join(splits)}: two split points name the same tensor")
    return found


def ancestors(nodes):
    seen, stack = set(), list(nodes)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(n.all_input_nodes)
    return seen


def trunk_graph(gm, cut):
    import torch.fx
    g = torch.fx.Graph()
    env, needed = {}, ancestors(cut)
    for n in gm.graph.nodes:
        if n in needed:
            env[n] = g.node_copy(n, lambda a: env[a])
    g.output(tuple(env[n] for n in cut))
    return torch.fx.GraphModule(gm, g)


def head_graph(gm, cut, qualname):
    """The operations after the cut, reading the split tensors from placeholders."""
    import torch.fx
    before = ancestors(cut)
    out = next(n for n in gm.graph.nodes if n.op == "output")
    live = ancestors([out])  # a traced model keeps dead nodes (timm's PatchEmbed reads x.shape unused)
    g = torch.fx.Graph()
    env = {n: g.placeholder(f"level{i}") for i, n in enumerate(cut)}
    for n in gm.graph.nodes:
        if n in before or n not in live:
            continue  # the trunk's (a constant it holds is copied where the head uses it, below)
        for a in n.all_input_nodes:
            if a in env:
                continue
            if a.op == "get_attr":
                env[a] = g.node_copy(a)
                continue
            if a.op == "placeholder" and a.args:  # an optional argument of forward (ViT's attn_mask=None)
                env[a] = a.args[0]
                continue
            fail(f"the split is crossed: '{qualname.get(n, n.name)}' after it reads '{qualname.get(a, a.name)}' "
                 "from before it (a skip connection); split after the connection closes")
        env[n] = g.node_copy(n, lambda a: env[a])
    if not any(c in ancestors(out.all_input_nodes) for c in cut):
        fail("the model's output does not depend on the split")
    return torch.fx.GraphModule(gm, g)


# ---- layouts -------------------------------------------------------------------------------

def level_layouts(model, names, tensors, args):
    """How each split tensor becomes B x C x H x W maps (see the module's docstring)."""
    layouts = []
    for name, t in zip(names, tensors):
        kind = args.layout
        if kind == "auto":
            kind = "tokens" if t.dim() == 3 else ("nhwc" if getattr(model, "output_fmt", "NCHW") == "NHWC" else "nchw")
        if kind == "tokens":
            if t.dim() != 3:
                fail(f"split '{name}' is {tuple(t.shape)}; tokens need B x N x C")
            grid = token_grid(model, args)
            prefix = t.shape[1] - grid[0] * grid[1]
            if prefix < 0:
                fail(f"split '{name}' has {t.shape[1]} tokens, fewer than the {grid[0]}x{grid[1]} patch grid")
            layouts.append({"layout": "tokens", "grid": list(grid), "prefix_tokens": int(prefix)})
        elif t.dim() != 4:
            fail(f"split '{name}' is {tuple(t.shape)}; expected B x C x H x W, B x H x W x C or B x N x C")
        else:
            layouts.append({"layout": kind})
    return layouts


def token_grid(model, args):
    if args.grid:
        gh, _, gw = args.grid.partition("x")
        return int(gh), int(gw)
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if grid is None:
        fail("a token split needs the patch grid: --grid HxW (the model has no patch_embed.grid_size)")
    return int(grid[0]), int(grid[1])


def to_maps(x, layout):
    """One split tensor into the engine's levels."""
    if layout["layout"] == "nchw":
        return [x]
    if layout["layout"] == "nhwc":
        return [x.permute(0, 3, 1, 2)]
    (gh, gw), p = layout["grid"], layout["prefix_tokens"]
    patches = x[:, p:, :].transpose(1, 2).reshape(x.shape[0], x.shape[2], gh, gw)
    return [patches, x[:, :p, :].transpose(1, 2).unsqueeze(2)] if p else [patches]


def from_maps(maps, layout):
    """The inverse of to_maps: the split tensor the model's head expects."""
    if layout["layout"] == "nchw":
        return maps[0]
    if layout["layout"] == "nhwc":
        return maps[0].permute(0, 2, 3, 1)
    import torch
    tokens = maps[0].flatten(2).transpose(1, 2)
    return torch.cat([maps[1].squeeze(2).transpose(1, 2), tokens], 1) if layout["prefix_tokens"] else tokens


def wrappers(trunk, head, layouts):
    import torch

    class Trunk(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = trunk

        def forward(self, images):
            levels = []
            for x, layout in zip(self.net(images), layouts):
                levels.extend(to_maps(x, layout))
            return tuple(levels)

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = head

        def forward(self, *maps):
            split, i = [], 0
            for layout in layouts:
                n = 2 if layout["layout"] == "tokens" and layout["prefix_tokens"] else 1
                split.append(from_maps(maps[i:i + n], layout))
                i += n
            return self.net(*split)

    return Trunk().eval(), Head().eval()


def level_names(splits, layouts):
    names = []
    for s, layout in zip(splits, layouts):
        names.append(s)
        if layout["layout"] == "tokens" and layout["prefix_tokens"]:
            names.append(s + ".prefix")
    return names


# ---- checks and files ------------------------------------------------------------------------

def check_equal(what, got, want, rtol=1e-6):
    """Every tensor of `got` equals `want`'s within rtol of the largest value, else one line."""
    got = got if isinstance(got, (tuple, list)) else (got,)
    want = want if isinstance(want, (tuple, list)) else (want,)
    for g, w in zip(got, want):
        if g.shape != w.shape:
            fail(f"{what}: shape {tuple(g.shape)} instead of {tuple(w.shape)}")
        diff = (g - w).abs().max().item() if g.numel() else 0.0
        scale = max(w.abs().max().item() if w.numel() else 0.0, 1e-12)
        if diff > rtol * scale:
            fail(f"{what}: differs by {diff:.3g} (largest value {scale:.3g})")


def level_entry(name, t, h, w):
    """A level's name, C x H x W and stride (none for prefix tokens, which have no position)."""
    entry = {"name": name, "shape": list(t.shape[1:])}
    entry["stride"] = None if name.endswith(".prefix") else [h // t.shape[2], w // t.shape[3]]
    return entry


def versions():
    import torch
    v = {"python": sys.version.split()[0], "torch": torch.__version__}
    for lib in ("torchvision", "timm"):
        try:
            v[lib] = __import__(lib).__version__
        except ImportError:
            pass
    return v


def aoti_package(trunk, x, path):
    """The trunk compiled ahead of time (AOTInductor) for the CPU, the batch size dynamic."""
    import torch
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(trunk, (x,), dynamic_shapes=({0: batch},))
    torch._inductor.aoti_compile_and_package(program, package_path=path)


# ---- detectors -------------------------------------------------------------------------------

# The anchors the engine's Mask R-CNN heads generate by default (torchvision's maskrcnn_*_fpn).
ENGINE_ANCHOR_RATIOS = (0.5, 1.0, 2.0)


def check_detector(model):
    for part in ("backbone", "rpn", "roi_heads"):
        if not hasattr(model, part):
            fail(f"--detector: the model has no .{part}; expected a torchvision Mask R-CNN")
    if getattr(model.roi_heads, "mask_predictor", None) is None:
        fail("--detector: the model has no mask head; the engine's heads are Mask R-CNN's")
    gen = model.rpn.anchor_generator
    if len(gen.sizes) != 5 or any(tuple(r) != ENGINE_ANCHOR_RATIOS for r in gen.aspect_ratios):
        fail(f"--detector: anchors {gen.sizes} with ratios {gen.aspect_ratios}; the engine's heads take one size "
             f"per FPN level with ratios {ENGINE_ANCHOR_RATIOS}")
    return [float(s[0]) for s in gen.sizes]


def export_detector(args, model, source, recipe):
    """The backbone (+ FPN) as a scripted trunk returning its five levels, and the heads' checkpoint."""
    import torch
    from typing import List
    from export_weights import write_safetensors
    anchor_sizes = check_detector(model)

    class DetectionTrunk(torch.nn.Module):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone

        def forward(self, images: torch.Tensor) -> List[torch.Tensor]:
            return list(self.backbone(images).values())

    c, h, w = input_shape(args, model) if args.input_size else (3, 800, 800)
    trunk = torch.jit.script(DetectionTrunk(model.backbone).eval())
    with torch.no_grad():
        for shape in ((2, c, h, w), (1, c, h // 2 + 32, w)):  # the trunk takes any size
            x = torch.randn(*shape)
            want = model.backbone(x)
            got = trunk(x)
            if len(got) != 5:
                fail(f"--detector: the backbone gives {len(got)} levels; the engine's Mask R-CNN heads take 5")
            for name, a, b in zip(want, got, want.values()):
                check_equal(f"the scripted trunk's level {name} at {'x'.join(map(str, shape))}", a, b)
        names = list(want)  # the backbone's level names, in order
        levels = trunk(torch.randn(1, c, h, w))
    os.makedirs(args.out, exist_ok=True)
    trunk.save(os.path.join(args.out, "trunk.pt.partial"))
    os.replace(os.path.join(args.out, "trunk.pt.partial"), os.path.join(args.out, "trunk.pt"))
    # The trunk's tensors under the packaged backbone's names (the values it already holds), so that
    # the detection task's strict loading checks the checkpoint belongs to this package.
    tensors = {"trunk." + k: v for k, v in trunk.state_dict().items()}
    tensors.update({k: v for k, v in model.state_dict().items() if k.startswith(("rpn.", "roi_heads."))})
    meta = {"source": f"{source['library']} {source['name']} (export_model.py --detector)",
            "preprocess": json.dumps(recipe), "roi_align_aligned": "false", "roi_sampling_ratio": "2",
            "anchor_rounding": "true"}
    write_safetensors(os.path.join(args.out, "maskrcnn.safetensors"), tensors, meta)
    package = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "task": "detection",
        "source": source, "versions": versions(),
        "input": {"channels": c, "height": h, "width": w},
        "preprocess": recipe,
        "levels": [level_entry(n, t, h, w) for n, t in zip(names, levels)],
        "num_classes": int(model.roi_heads.box_predictor.cls_score.out_features),
        "anchor_sizes": anchor_sizes,
        "weights": "maskrcnn.safetensors",
        "files": {f: sha256(os.path.join(args.out, f)) for f in ("trunk.pt", "maskrcnn.safetensors")},
    }
    with open(os.path.join(args.out, "package.json.partial"), "w") as f:
        json.dump(package, f, indent=1)
        f.write("\n")
    os.replace(os.path.join(args.out, "package.json.partial"), os.path.join(args.out, "package.json"))
    shapes = ", ".join(f"{n} {'x'.join(map(str, t.shape[1:]))}" for n, t in zip(names, levels))
    print(f"{args.out}: {source['name']} backbone -> {shapes}; {package['num_classes']} classes; heads in "
          f"maskrcnn.safetensors (the packaged backbone's weights)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--timm", help="a timm model name")
    src.add_argument("--torchvision", help="a torchvision classification model name")
    src.add_argument("--module", help="FILE.py:FACTORY, a function returning your nn.Module")
    ap.add_argument("--split", help="module path(s) whose output is the feature: stages.2 or a,b,c")
    ap.add_argument("--detector", action="store_true",
                    help="the model is a torchvision Mask R-CNN: package its backbone's five FPN levels and its heads")
    ap.add_argument("--out", required=True, help="the package folder (created)")
    ap.add_argument("--pretrained", action="store_true", help="the library's published weights (needs the hub)")
    ap.add_argument("--checkpoint", help="a state dict (.pth) loaded into the model")
    ap.add_argument("--num-classes", type=int, default=0, help="build the classifier with this many classes")
    ap.add_argument("--input-size", help="C,H,W the package is traced at (default: the model's, else 3,224,224)")
    ap.add_argument("--layout", default="auto", choices=["auto", "nchw", "nhwc", "tokens"],
                    help="how the split tensors are laid out (auto: 3-D tokens, timm's output_fmt, else NCHW)")
    ap.add_argument("--grid", help="HxW patch grid of a token split (default: patch_embed.grid_size)")
    ap.add_argument("--preprocess", help="JSON fields over the model's evaluation transform")
    ap.add_argument("--aoti", action="store_true", help="also compile the trunk with AOTInductor (trunk-cpu.pt2)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random inputs that check the package")
    args = ap.parse_args()

    import warnings
    import torch
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    model, source, recipe = build_model(args)
    if args.detector:
        return export_detector(args, model, source, recipe)
    if not args.split:
        fail("--split is needed (or --detector)")
    c, h, w = input_shape(args, model)
    splits = [s.strip() for s in args.split.split(",") if s.strip()]
    gm, qualname = trace(model)
    cut = split_nodes(gm, qualname, splits)
    trunk, head = trunk_graph(gm, cut), head_graph(gm, cut, qualname)
    x = torch.randn(2, c, h, w)
    with torch.no_grad():
        want = model(x)
        if not isinstance(want, torch.Tensor):
            fail(f"the model returns {type(want).__name__}; a package's head must return one logits tensor")
        split_tensors = trunk(x)
        check_equal("head(trunk(x)) against the model", head(*split_tensors), want)
        layouts = level_layouts(model, splits, split_tensors, args)
        trunk_m, head_m = wrappers(trunk, head, layouts)
        maps = trunk_m(x)
        check_equal("the head on the engine's maps", head_m(*maps), want)
        trunk_ts = torch.jit.trace(trunk_m, x, check_trace=False)
        head_ts = torch.jit.trace(head_m, maps, check_trace=False)
        x3 = torch.randn(3, c, h, w)
        check_equal("the traced trunk at batch 3", trunk_ts(x3), trunk_m(x3))
        check_equal("the traced head at batch 3", head_ts(*trunk_m(x3)), model(x3))

    os.makedirs(args.out, exist_ok=True)
    files = {"trunk.pt": trunk_ts, "head.pt": head_ts}
    for name, m in files.items():
        m.save(os.path.join(args.out, name + ".partial"))
        os.replace(os.path.join(args.out, name + ".partial"), os.path.join(args.out, name))
    if args.aoti:
        aoti_package(trunk_m, x, os.path.join(args.out, "trunk-cpu.pt2"))
    names = level_names(splits, layouts)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "source": source, "versions": versions(),
        "input": {"channels": c, "height": h, "width": w},
        "preprocess": recipe,
        "split": [{"module": s, **layout} for s, layout in zip(splits, layouts)],
        "levels": [level_entry(n, m, h, w) for n, m in zip(names, maps)],
        "num_classes": int(want.shape[1]),
        "files": {f: sha256(os.path.join(args.out, f)) for f in sorted(os.listdir(args.out))
                  if f.endswith((".pt", ".pt2"))},
    }
    with open(os.path.join(args.out, "package.json.partial"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    os.replace(os.path.join(args.out, "package.json.partial"), os.path.join(args.out, "package.json"))
    shapes = ", ".join(f"{n} {'x'.join(map(str, m.shape[1:]))}" for n, m in zip(names, maps))
    print(f"{args.out}: {source['name']} split at {','.join(splits)} -> {shapes}; {meta['num_classes']} classes")


if __name__ == "__main__":
    sys.exit(main())
