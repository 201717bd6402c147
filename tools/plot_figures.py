#!/usr/bin/python3
"""Regenerate the paper's figures from a featjnd-engine results database.

  tools/plot_figures.py results/quickstart.db results/quickstart-figures
  tools/plot_figures.py results/quickstart_detection.db OUTDIR --metric segm.AP

--metric: the task metric on the y axes (default top1 where the runs have it, else bbox.AP).
For every backbone configuration in the database (one figure each), as PNG and PDF:
  fig4_*   top-1 against NRMSE: FeatJND (and its controls) and Gaussian noise (mean ± std over seeds);
           fig5_* for bbox AP (detection), fig6_* for segm AP (instance segmentation)
  fig8_*   drop from the clean top-1 against alpha
  fig10_*  top-1 against the quantization budget sigma_q: FeatJND-guided, random (mean ± std), uniform
  fig12_*  top-1 against cosine similarity
  fig13_*  NRMSE against cosine similarity
Uses Debian's python3-matplotlib; reads the database read-only.
"""
import argparse
import collections
import json
import math
import os
import sqlite3
import statistics
import sys


def load(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    runs = {}
    for rid, cfg in con.execute(
            "SELECT id, config_json FROM runs WHERE stage_type='evaluate' AND status='finished'"):
        cfg = json.loads(cfg)
        roles, comps = cfg["roles"], cfg["components"]
        backbone, task = comps[roles["backbone"]], comps[roles["task"]]
        group = json.dumps({"plugin": backbone["plugin"], "params": backbone["params"], "task": task["plugin"]},
                           sort_keys=True)
        dist = comps[roles["distortion"]] if "distortion" in roles else None
        runs[rid] = {"group": group, "plugin": dist["plugin"] if dist else None,
                     "params": dist["params"] if dist else {}, "m": {}}
    for rid, key, value in con.execute("SELECT run_id, key, value FROM metrics WHERE step = 0"):
        if rid in runs:
            runs[rid]["m"][key] = value
    return list(runs.values())


def group_title(group, all_groups):
    g = json.loads(group)
    varying = set()
    for other in all_groups:
        o = json.loads(other)["params"]
        varying |= {k for k in o if o.get(k) != g["params"].get(k)}
    keep = [k for k in g["params"] if k in varying or k in ("arch", "split") or (k == "neck" and g["params"][k] != "none")]
    title = g["plugin"] + " " + " ".join(f"{k}={g['params'][k]}" for k in sorted(keep))
    slug = "_".join(str(g["params"][k]) for k in sorted(keep)) or g["plugin"]
    return title.strip(), "".join(c if c.isalnum() or c in "-_." else "-" for c in slug)


def mean_std(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def finish(plt, fig, ax, outdir, name, xlabel, ylabel, title, xlog=False, ylog=False):
    """Labels, legend and grid; the figure written as PNG and PDF, then closed."""
    if xlog:
        ax.set_xscale("log")
    if ylog:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    for ext in ("png", "pdf"):
        fig.savefig(os.path.join(outdir, f"{name}.{ext}"), dpi=150, bbox_inches="tight")
    plt.close(fig)
    return name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("db")
    ap.add_argument("outdir")
    ap.add_argument("--metric", default="")
    args = ap.parse_args()
    db, outdir = args.db, args.outdir
    if not os.path.exists(db):
        sys.exit(f"plot_figures: database '{db}' does not exist")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = load(db)
    if not runs:
        sys.exit(f"plot_figures: no finished evaluations in '{db}'")
    metric = args.metric or ("top1" if any("top1" in r["m"] for r in runs) else "bbox.AP")
    if not any(metric in r["m"] for r in runs):
        sys.exit(f"plot_figures: no evaluation in '{db}' has the metric '{metric}'")
    shown = {"top1": "top-1 accuracy (%)"}.get(metric, f"{metric} (%)")
    short = "top-1" if metric == "top1" else metric
    fig_main = "fig4" if metric == "top1" else ("fig6" if metric.startswith("segm.") else "fig5")
    os.makedirs(outdir, exist_ok=True)
    groups = sorted({r["group"] for r in runs})
    written = []
    for group in groups:
        rs = [r for r in runs if r["group"] == group]
        title, slug = group_title(group, groups)
        clean = next((r["m"]["clean." + metric] for r in rs if "clean." + metric in r["m"]), float("nan"))

        gauss = collections.defaultdict(list)
        for r in rs:
            if r["plugin"] == "gaussian":
                gauss[r["params"]["sigma"]].append(r)
        g_pts = []
        for sigma in sorted(gauss):
            nr, _ = mean_std([r["m"].get("nrmse") for r in gauss[sigma]])
            t, ts = mean_std([r["m"].get(metric) for r in gauss[sigma]])
            cs, _ = mean_std([r["m"].get("cosine") for r in gauss[sigma]])
            g_pts.append((nr, t, ts, cs))
        fj = collections.defaultdict(list)  # (lambda, mode) -> runs
        for r in rs:
            if r["plugin"] == "featjnd":
                fj[(r["params"].get("lambda"), r["params"].get("mode", "adaptive"))].append(r)

        def curve(key_x, runs_, key_y=metric):
            pts = sorted((r["m"].get(key_x, float("nan")), r["m"].get(key_y, float("nan"))) for r in runs_)
            return [p[0] for p in pts], [p[1] for p in pts]

        label_of = {"adaptive": "FeatJND", "mean": "FeatJND mean map (control)",
                    "shuffled": "FeatJND channel-shuffled (control)"}
        style = {"adaptive": "-o", "mean": "--s", "shuffled": ":^"}

        # Fig. 4: top-1 against NRMSE
        if g_pts or fj:
            fig, ax = plt.subplots(figsize=(6, 4.2))
            if g_pts:
                x = [p[0] for p in g_pts]
                y = [100 * p[1] for p in g_pts]
                e = [100 * p[2] for p in g_pts]
                ax.errorbar(x, y, yerr=e, fmt="-x", color="tab:gray", capsize=3, label="Gaussian (mean ± std, seeds)")
            for (lam, mode), rr in sorted(fj.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
                x, y = curve("nrmse", rr)
                ax.plot(x, [100 * v for v in y], style.get(mode, "-o"), label=f"{label_of.get(mode, mode)}, λ={lam}")
            if not math.isnan(clean):
                ax.axhline(100 * clean, color="k", lw=0.8, ls="--", label="clean")
            written.append(finish(plt, fig, ax, outdir, f"{fig_main}_{slug}", "NRMSE  ‖F′ − F‖ / ‖F‖", shown,
                                  f"{short} vs distortion strength — {title}", xlog=True))

        # Fig. 8: drop against alpha
        adaptive = {k: v for k, v in fj.items() if k[1] == "adaptive"}
        if adaptive:
            fig, ax = plt.subplots(figsize=(6, 4.2))
            for (lam, _), rr in sorted(adaptive.items(), key=lambda kv: str(kv[0][0])):
                pts = sorted((r["params"]["alpha"], 100 * (clean - r["m"][metric])) for r in rr)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", label=f"FeatJND, λ={lam}")
            ax.axvline(1.0, color="k", lw=0.8, ls=":")
            written.append(finish(plt, fig, ax, outdir, f"fig8_{slug}", "α (distortion F + α·J)",
                                  f"{short} drop from clean (points)", f"Calibration — {title}", xlog=True))

        # Fig. 10: quantization
        quant = collections.defaultdict(lambda: collections.defaultdict(list))
        for r in rs:
            if r["plugin"] and r["plugin"].startswith("quant-"):
                quant[r["plugin"]][r["params"]["sigma_q"]].append(r["m"].get(metric))
        if quant:
            fig, ax = plt.subplots(figsize=(6, 4.2))
            names = {"quant-featjnd": "FeatJND-guided", "quant-random": "random permutation (mean ± std)",
                     "quant-uniform": "uniform"}
            for q in ("quant-featjnd", "quant-random", "quant-uniform"):
                if q not in quant:
                    continue
                xs = sorted(quant[q])
                ms = [mean_std(quant[q][x]) for x in xs]
                ax.errorbar(xs, [100 * m for m, _ in ms], yerr=[100 * s for _, s in ms], fmt="-o", capsize=3,
                            label=names[q])
            written.append(finish(plt, fig, ax, outdir, f"fig10_{slug}", "noise budget σ_q", shown,
                                  f"Token-wise quantization — {title}", xlog=True))

        # Figs. 12–13: cosine similarity as a budget axis
        if g_pts or adaptive:
            for num, ykey, ylabel in ((12, metric, shown), (13, "nrmse", "NRMSE")):
                fig, ax = plt.subplots(figsize=(6, 4.2))
                if g_pts:
                    ys = [100 * p[1] if ykey == metric else p[0] for p in g_pts]
                    ax.plot([p[3] for p in g_pts], ys, "-x", color="tab:gray", label="Gaussian (mean over seeds)")
                for (lam, _), rr in sorted(adaptive.items(), key=lambda kv: str(kv[0][0])):
                    x, y = curve("cosine", rr, ykey)
                    ax.plot(x, [100 * v for v in y] if ykey == metric else y, "-o", label=f"FeatJND, λ={lam}")
                written.append(finish(plt, fig, ax, outdir, f"fig{num}_{slug}", "cosine similarity (F, F′)", ylabel,
                                      f"{ylabel.split(' (')[0]} vs cosine similarity — {title}",
                                      ylog=(ykey == "nrmse")))
    print(f"wrote {len(written)} figures (PNG and PDF) to {outdir}: " + ", ".join(written))


if __name__ == "__main__":
    main()
