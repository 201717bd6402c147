#!/usr/bin/env python3
"""Regenerate the paper's figures from a featjnd-engine results database.

  featjnd-engine figures results/quickstart.db --out results/quickstart-figures
  tools/plot_figures.py results/quickstart.db OUTDIR [--engine build/featjnd-engine]

Every number comes from `featjnd-engine report DB --format json` (engine/analysis: runs grouped by
every varying parameter, seeds as mean ± std); nothing here re-derives groups. For each setting
(one figure each), as PNG and PDF, what the database holds data for:
  fig4   top-1 against NRMSE: FeatJND (and its controls) and Gaussian noise (classification)
  fig5   bbox AP against NRMSE (detection); fig6 segm AP (instance segmentation)
  fig7   Integrated Gradients before and after the distortion (inspect stages)
  fig8   drop from the clean metric against alpha
  fig9   the tolerance ‖ΔF‖ over channels on the finest level, over the images (inspect stages)
  fig10  top-1 against the quantization budget sigma_q: FeatJND-guided, random (mean ± std), uniform
  fig11  the same for bbox and segm AP
  fig12  the metric against cosine similarity; fig13 NRMSE against cosine similarity
  fig14, fig15   Fig. 8 with AP50, AP75 and AR@100 (bbox, segm)
  fig16, fig17   Figs. 5 and 6 with AP50, AP75 and AR@100
  fig18, fig19   Fig. 11 with AP50, AP75 and AR@100
  quant-nrmse    the quantizers against their measured NRMSE (beside the nominal budget of fig10/11)
  rate   beyond the paper: the metric against bits per input pixel of the codec-mode quantizers, BD-rates
and says which figures it could not make, and why. Needs matplotlib (tools/install_deps.sh puts it in
.venv/); without it, one line on stderr and exit status 3.
"""
import argparse
import json
import math
import os
import subprocess
import sys

METRIC_NAMES = {"top1": "top-1 accuracy", "top5": "top-5 accuracy", "AP": "mAP@[.5:.95]", "AP50": "AP@.5",
                "AP75": "AP@.75", "AR100": "mAR@[.5:.95] (100 dets)"}
COLOURS = {"gaussian": "#7f7f7f", "featjnd": "#1f77b4", "featjnd-mean": "#2ca02c", "featjnd-shuffled": "#9467bd",
           "quant-featjnd": "#1f77b4", "quant-random": "#ff7f0e", "quant-uniform": "#7f7f7f", "quant-minmax": "#d62728"}
LABELS = {"gaussian": "Gaussian noise", "featjnd": "FeatJND", "featjnd-mean": "FeatJND mean map (control)",
          "featjnd-shuffled": "FeatJND channel-shuffled (control)", "quant-featjnd": "FeatJND-guided",
          "quant-random": "random permutation", "quant-uniform": "uniform step",
          "quant-minmax": "min–max anchor (N bits)"}
DETECTION_EXTRA = ["AP50", "AP75", "AR100"]


def metric_label(metric):
    head, _, stat = metric.rpartition(".")
    name = METRIC_NAMES.get(stat if head else metric, metric)
    return f"{head} {name} (%)" if head else f"{name} (%)"


def pct(v):
    return float("nan") if v is None else 100.0 * v


def num(v):
    return float("nan") if v is None else v


def slug(text):
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-") or "all"


class Figures:
    """One style for every figure; the legend beside the axes, never over the data."""

    def __init__(self, outdir):
        try:
            import matplotlib
        except ImportError as e:
            print(f"plot_figures: {sys.executable} cannot import matplotlib ({e})", file=sys.stderr)
            sys.exit(3)
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3,
                             "axes.spines.top": False, "axes.spines.right": False, "lines.markersize": 4})
        self.plt, self.outdir, self.made, self.missing = plt, outdir, [], {}
        os.makedirs(outdir, exist_ok=True)

    def axes(self, panels=1):
        fig, axes = self.plt.subplots(1, panels, figsize=(4.6 * panels + 1.8, 3.6), squeeze=False)
        return fig, list(axes[0])

    def save(self, fig, axes, name, title):
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.92), fontsize=8, frameon=False)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        for ext in ("png", "pdf"):
            fig.savefig(os.path.join(self.outdir, f"{name}.{ext}"), bbox_inches="tight")
        self.plt.close(fig)
        self.made.append(name)

    def skip(self, figure, why):
        self.missing.setdefault(figure, why)


def curve(group, label):
    return next((c for c in group["curves"] if c["label"] == label), None)


def plot_points(ax, c, x_key, y_key, scale_y=True, errors=True, style="-o"):
    pts = [p for p in c["points"] if p[y_key]["mean"] is not None and (x_key == "strength" or p[x_key]["mean"] is not None)]
    xs = [p["strength"] if x_key == "strength" else p[x_key]["mean"] for p in pts]
    ys = [(pct if scale_y else num)(p[y_key]["mean"]) for p in pts]
    es = [(pct if scale_y else num)(p[y_key]["std"]) if errors and p[y_key]["n"] > 1 else 0 for p in pts]
    label = LABELS.get(c["method"], c["label"]) + c["label"][len(c["method"]):]
    if any(e > 0 for e in es):
        label += " (mean ± std)"
        ax.errorbar(xs, ys, yerr=es, fmt=style, capsize=2, color=COLOURS.get(c["method"]), label=label)
    else:
        ax.plot(xs, ys, style, color=COLOURS.get(c["method"]), label=label)


def vs_nrmse(figs, analyses, group_label, metrics, name, title):
    """Figs. 4-6 and 16-17: the metric against NRMSE for FeatJND, its controls and Gaussian noise."""
    fig, axes = figs.axes(len(metrics))
    for ax, m in zip(axes, metrics):
        g = next(x for x in analyses[m]["groups"] if x["label"] == group_label)
        for c in g["curves"]:
            if c["method"] == "gaussian" or c["method"].startswith("featjnd"):
                plot_points(ax, c, "nrmse", "metric", style="-x" if c["method"] == "gaussian" else "-o")
        if g["clean"]["mean"] is not None:
            ax.axhline(pct(g["clean"]["mean"]), color="k", lw=0.8, ls="--", label="clean")
        ax.set_xscale("log")
        ax.set_xlabel("NRMSE ‖F′ − F‖ / ‖F‖")
        ax.set_ylabel(metric_label(m))
    figs.save(fig, axes, name, title)


def drop_vs_alpha(figs, analyses, group_label, metrics, name, title):
    """Figs. 8, 14-15: the drop from the clean metric against α (FeatJND adaptive)."""
    fig, axes = figs.axes(1)
    ax = axes[0]
    for m in metrics:
        g = next(x for x in analyses[m]["groups"] if x["label"] == group_label)
        c = curve(g, "featjnd")
        clean = g["clean"]["mean"]
        if not c or clean is None:
            continue
        pts = [(p["strength"], pct(clean - p["metric"]["mean"])) for p in c["points"] if p["metric"]["mean"] is not None]
        ax.plot([a for a, _ in pts], [d for _, d in pts], "-o", label=metric_label(m).replace(" (%)", ""))
    ax.axvline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("α (the distortion is F + α·J)")
    ax.set_ylabel("drop from clean (points)")
    figs.save(fig, axes, name, title)


def quantization(figs, analyses, group_label, metrics, name, title, x_key="strength"):
    """Figs. 10-11, 18-19: the metric against σ_q (or the measured NRMSE) for the three quantizers."""
    fig, axes = figs.axes(len(metrics))
    for ax, m in zip(axes, metrics):
        g = next(x for x in analyses[m]["groups"] if x["label"] == group_label)
        for q in ("quant-featjnd", "quant-random", "quant-uniform"):
            c = curve(g, q)
            if c:
                plot_points(ax, c, x_key, "metric")
        ax.set_xscale("log")
        ax.set_xlabel("noise budget σ_q (per feature element)" if x_key == "strength" else "measured NRMSE")
        ax.set_ylabel(metric_label(m))
    figs.save(fig, axes, name, title)


def vs_cosine(figs, g, metric, name, title, y):
    fig, axes = figs.axes(1)
    for c in g["curves"]:
        if c["method"] in ("gaussian", "featjnd"):
            plot_points(axes[0], c, "cosine", "metric" if y == "metric" else "nrmse", scale_y=(y == "metric"),
                        errors=False, style="-x" if c["method"] == "gaussian" else "-o")
    axes[0].set_xlabel("cosine similarity (F, F′)")
    axes[0].set_ylabel(metric_label(metric) if y == "metric" else "NRMSE")
    if y == "nrmse":
        axes[0].set_yscale("log")
    figs.save(fig, axes, name, title)


def rate_accuracy(figs, g, metric, name, title):
    """Beyond the paper: the metric against bits per input pixel of the codec-mode quantizers (the
    side information included), with the BD-rates of FeatJND-guided allocation in the legend."""
    fig, axes = figs.axes(1)
    ax = axes[0]
    bd = {r["anchor"]: r["bd_rate"] for r in g["rate"]["bd_rates"] if r["bd_rate"] is not None}
    # BD-rates the engine declined (fewer than 4 points on a curve, no common range): said, not drawn.
    why = {r["anchor"]: r.get("why", "") for r in g["rate"]["bd_rates"] if r["bd_rate"] is None}
    for c in g["rate"]["curves"]:
        pts = sorted((p["bpp"], pct(p["metric"])) for p in c["points"] if p["bpp"] > 0 and p["metric"] is not None)
        if not pts:
            continue
        label = LABELS.get(c["label"], c["label"])
        if c["label"] in bd:
            label += f" (BD-rate of FeatJND vs this: {bd[c['label']]:+.1f} %)"
        elif c["label"] in why:
            label += f" (BD-rate {why[c['label']]})"
        ax.plot([x for x, _ in pts], [y for _, y in pts], "-o", color=COLOURS.get(c["label"]), label=label)
    ax.set_xscale("log")
    ax.set_xlabel("rate (bits per input pixel, side information included)")
    ax.set_ylabel(metric_label(metric))
    figs.save(fig, axes, name, title)


def has(g, prefix):
    return any(c["method"].startswith(prefix) for c in g["curves"])


def task_figures(figs, report, main, family):
    """The figures of one task family: classification (top1) or detection/segmentation (bbox/segm)."""
    analyses = report["analyses"]
    numbers = {"top1": ("fig4", "fig10", None, None), "bbox.AP": ("fig5", "fig11", "fig16", "fig18"),
               "segm.AP": ("fig6", "fig11", "fig17", "fig19")}[main]
    vs_fig, q_fig, ext_fig, ext_q_fig = numbers
    extra = [main.replace("AP", e) for e in DETECTION_EXTRA] if ext_fig else []
    extra = [m for m in extra if m in analyses]
    for g in analyses[main]["groups"]:
        label, s = g["label"], slug(g["label"]) + ("_" + main.split(".")[0] if "." in main else "")
        if has(g, "featjnd") or has(g, "gaussian"):
            vs_nrmse(figs, analyses, label, [main], f"{vs_fig}_{s}", f"{family}: {metric_label(main)} against distortion strength — {label}")
            vs_cosine(figs, g, main, f"fig12_{s}", f"{metric_label(main)} against cosine similarity — {label}", "metric")
            vs_cosine(figs, g, main, f"fig13_{s}", f"NRMSE against cosine similarity — {label}", "nrmse")
            if extra:
                vs_nrmse(figs, analyses, label, extra, f"{ext_fig}_{s}", f"{family}: more COCO metrics against NRMSE — {label}")
        else:
            figs.skip(vs_fig, "no FeatJND or Gaussian evaluations")
        if curve(g, "featjnd"):
            drop_vs_alpha(figs, analyses, label, [main], f"fig8_{s}", f"Calibration: drop against α — {label}")
            if extra:
                n = "fig14" if main.startswith("bbox") else "fig15"
                drop_vs_alpha(figs, analyses, label, [main] + extra, f"{n}_{s}", f"Calibration, COCO metrics — {label}")
        else:
            figs.skip("fig8", "no FeatJND α sweep")
        if curve(g, "quant-featjnd"):
            quantization(figs, analyses, label, [main], f"{q_fig}_{s}", f"Token-wise quantization — {label}")
            quantization(figs, analyses, label, [main], f"quant-nrmse_{s}",
                         f"Quantization at the measured NRMSE — {label}", x_key="nrmse")
            if ext_q_fig and extra:
                quantization(figs, analyses, label, extra, f"{ext_q_fig}_{s}", f"Quantization, COCO metrics — {label}")
        else:
            figs.skip(q_fig, "no quantization runs")
        if g.get("rate") and g["rate"]["curves"]:
            rate_accuracy(figs, g, main, f"rate_{s}", f"Rate–accuracy of the feature codec — {label}")
        else:
            figs.skip("rate", "no codec-mode quantization runs")


def image_grid(figs, inspections, files, columns, name, title, transpose=False):
    """Figs. 7 and 9 from the inspect stages' PNG artifacts: one row per image (one column per
    image when transposed)."""
    import matplotlib.image as mpimg
    rows = [(insp, im) for insp in inspections for im in insp["images"] if all(f in im.get("files", {}) for f in files)]
    if not rows:
        return False
    shape = (len(files), len(rows)) if transpose else (len(rows), len(files))
    fig, axes = figs.plt.subplots(*shape, figsize=(1.9 * shape[1], 1.9 * shape[0] + 0.4), squeeze=False)
    for r, (insp, im) in enumerate(rows):
        m = im.get("metrics", {})
        note = f"{insp['network']} #{im['index']}"
        if "spearman" in m:
            note += f"\nρ={m['spearman']:.3f} top-k={m.get('topk_overlap', float('nan')):.2f}"
        for c, f in enumerate(files):
            ax = axes[c][r] if transpose else axes[r][c]
            ax.imshow(mpimg.imread(im["files"][f]))
            ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
            if transpose and c == 0:
                ax.set_title(f"{insp['network']} #{im['index']}", fontsize=7)
            elif not transpose and r == 0:
                ax.set_title(columns[c], fontsize=8)
            if transpose and r == 0:
                ax.set_ylabel(columns[c], fontsize=8)
        if not transpose:
            axes[r][0].set_ylabel(note, fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(os.path.join(figs.outdir, f"{name}.{ext}"), bbox_inches="tight", dpi=150)
    figs.plt.close(fig)
    figs.made.append(name)
    return True


def inspection_figures(figs, report):
    insp = report["inspections"]
    if not insp:
        for f in ("fig7", "fig9"):
            figs.skip(f, "no inspect stage in the database (add one after a fit: see README, 'inspect')")
        return
    ig = ["image", "ig_clean", "ig_distorted", "ig_difference"]
    names = ["image", "IG, clean", "IG, F + α·J", "difference"]
    if any("ig_gaussian" in im.get("files", {}) for i in insp for im in i["images"]):
        ig.append("ig_gaussian")
        names.append("IG, Gaussian (same NRMSE)")
    if not image_grid(figs, insp, ig, names, "fig7_attribution", "Integrated Gradients before and after the distortion"):
        figs.skip("fig7", "the inspect stages ran without attribution")
    image_grid(figs, insp, ["image", "tolerance"], ["image", "tolerance ‖ΔF‖₂"], "fig9_tolerance",
               "Where the distortion puts its change (‖ΔF‖₂ over channels on the finest feature level)", transpose=True)


def load_report(args):
    if args.json:
        with open(args.json) as f:
            return json.load(f)
    engine = args.engine or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "featjnd-engine")
    def run(metrics):
        cmd = [engine, "report", args.db, "--format", "json"] + (["--metric", ",".join(metrics)] if metrics else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"plot_figures: {' '.join(cmd)} failed: {out.stderr.strip()}")
        return json.loads(out.stdout)
    first = run([])
    wanted = [m for m in ["top1", "bbox.AP", "segm.AP"] + [f"{t}.{e}" for t in ("bbox", "segm") for e in DETECTION_EXTRA]
              if m in first["metrics"]]
    return run(wanted) if wanted else first


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("db")
    ap.add_argument("outdir")
    ap.add_argument("--engine", help="the featjnd-engine executable (default: build/featjnd-engine)")
    ap.add_argument("--json", help="read `report --format json` output from this file instead of running the engine")
    args = ap.parse_args()
    if not args.json and not os.path.exists(args.db):
        sys.exit(f"plot_figures: database '{args.db}' does not exist")
    report = load_report(args)
    figs = Figures(args.outdir)
    families = [("top1", "Classification"), ("bbox.AP", "Detection"), ("segm.AP", "Instance segmentation")]
    for main, family in families:
        if main in report["analyses"]:
            task_figures(figs, report, main, family)
    if "top1" not in report["analyses"]:
        for f in ("fig4", "fig10"):
            figs.skip(f, "no classification evaluations (top1)")
    if "bbox.AP" not in report["analyses"]:
        for f in ("fig5", "fig6", "fig11", "fig14", "fig15", "fig16", "fig17", "fig18", "fig19"):
            figs.skip(f, "no detection evaluations (bbox.AP)")
    inspection_figures(figs, report)
    made = {}
    for n in figs.made:
        made[n.split("_")[0]] = made.get(n.split("_")[0], 0) + 1
    print(f"wrote {len(figs.made)} figures (PNG and PDF) to {args.outdir}: " +
          ", ".join(f"{k} ({v})" for k, v in sorted(made.items(), key=lambda kv: (len(kv[0]), kv[0]))))
    for f, why in sorted(figs.missing.items()):
        if f not in made:
            print(f"not made: {f}: {why}")


if __name__ == "__main__":
    main()
