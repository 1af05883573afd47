"""Writes ``REPORT.md``: every experiment's table beside the paper's numbers, the plots, and one
sentence per claim saying whether it holds on this data and by how much.

Every verdict is computed from the results dict here; nothing about the outcome is written in
advance. The paper's numbers (DESIGN.md, "Figures the paper reports") are the only constants.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from purify_tf.experiments.common import write_png
from purify_tf.palette import image_grid

# The paper's figures (DESIGN.md): Table 2 (Titan X), Fig. 8, Table 3, pupil shift.
PAPER = {
    "speed_seconds": {256: 0.015, 512: 0.05, 1024: 0.21},
    "speed_gatys_over_paper": 1000.0,
    "speed_johnson_over_paper": (1.5, 1.7),
    "objective_match_iterations": (50, 100),
    "gaze": {  # estimator: (raw MPIIGaze, purified), degrees; CNN and kNN trained on UnityEyes
        "CNN": (9.9, 7.8),
        "kNN": (12.5, 9.9),
        "CNN (SynthesEyes)": (13.5, 8.8),
        "SVR": (16.5, 14.3),
        "RF": (15.4, 14.2),
        "ALR": (16.4, 13.9),
    },
    "pupil_shift_px": (0.8, 1.1),
}


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3):
            return f"{v:.{digits}g}"
        return f"{v:.{digits}g}" if abs(v) < 1 else f"{v:.{max(digits - 1, 1)}f}"
    return str(v)


def _verdict(ok: bool | None) -> str:
    return {True: "**holds**", False: "**does not hold**", None: "**not measured**"}[ok]


# ----------------------------------------------------------------------------- claims
GAP_GOAL = 0.5  # share of the raw -> twin gap the report's purifier should close


def gaze_claims(gaze: dict[str, Any], best: str | None = None) -> list[dict[str, Any]]:
    """Per estimator, for the paper-faithful and the best purifier: is the error lower with a 95%
    interval that excludes zero, and what share of the raw -> twin gap is closed."""
    out = []
    names = [n for n in ("paper", best) if n]
    for est, by_name in gaze.get("gap_share", {}).items():
        paper = PAPER["gaze"].get(est)
        paper_txt = f"paper {paper[0]:.1f}° → {paper[1]:.1f}°" if paper else "no paper row"
        for name in dict.fromkeys(names):
            if name not in by_name:
                continue
            g = by_name[name]
            errs = gaze["errors"][est]
            ok = bool(g["delta_hi"] < 0)
            goal = " (goal ≥ 50%: " + ("met" if g["gap_share"] >= GAP_GOAL else "not met") + ")" if name == best else ""
            out.append({
                "claim": f"{est}: purification ({name}) lowers the gaze error",
                "holds": ok,
                "measured": g["gap_share"],
                "sentence": (
                    f"{est}, {name}: {errs['raw']:.2f}° raw → {errs[name]:.2f}° purified (twin {errs['twin']:.2f}°, "
                    f"in-domain {errs.get('in_domain', float('nan')):.2f}°); change {g['delta_deg']:+.2f}° "
                    f"[{g['delta_lo']:+.2f}, {g['delta_hi']:+.2f}], gap closed {100 * g['gap_share']:.0f}% "
                    f"[{100 * g['gap_share_lo']:.0f}, {100 * g['gap_share_hi']:.0f}]{goal}; {paper_txt}: {_verdict(ok)}."
                ),
            })
    return out


PUPIL_GOAL_RENDERER, PUPIL_GOAL_REAL = 0.8, 1.0  # px at eye width 55, raw vs purified


def pupil_claims(pupil: dict[str, Any], best: str | None = None) -> list[dict[str, Any]]:
    """Raw vs purified pupil centre (independent detector) within 0.8 px on the renderer."""
    out = []
    for name in dict.fromkeys(n for n in ("paper", best) if n):
        res = pupil.get(name)
        if not res:
            continue
        d, f = res["detector"]["raw_vs_purified"], res["fcn"]["raw_vs_purified"]
        ok = None if d["n"] == 0 else bool(d["mean"] <= PUPIL_GOAL_RENDERER)
        out.append({
            "claim": f"pupil centre kept ({name})", "holds": ok, "measured": d["mean"],
            "sentence": (
                f"Pupil centre raw → purified, {name}: {d['mean']:.2f} ± {d['std']:.2f} px (median "
                f"{d['median']:.2f}) with the FCN-independent detector, {f['mean']:.2f} ± {f['std']:.2f} px with "
                f"the FCN, at eye width 55 px (goal ≤ {PUPIL_GOAL_RENDERER} px; paper 0.8 ± 1.1 px): {_verdict(ok)}."),
        })
    return out


def objective_claims(curves: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fig. 8: the feed-forward value is worth >= 50 Gatys iterations at every size."""
    lo, hi = PAPER["objective_match_iterations"]
    out = []
    for c in curves:
        size = f"{c['size'][0]}x{c['size'][1]}"
        matches = c["match_iteration"]
        reached = [m for m in matches if m is not None]
        n_iter = c["gatys_iterations"]
        # Images where Gatys never reached the feed-forward value count as "more than n_iter".
        med = float(np.median([float("inf") if m is None else m for m in matches]))
        if len(reached) == len(matches):
            ok = bool(med >= lo)
            how = f"Gatys first reaches the feed-forward objective at iteration {med:.0f} (median over {len(matches)} images)"
        else:
            ok = bool(med >= lo) if (math.isfinite(med) or n_iter >= lo) else None
            how = (f"Gatys does not reach the feed-forward objective within {n_iter} iterations on "
                   f"{len(matches) - len(reached)} of {len(matches)} images (median first match "
                   f"{'> ' + str(n_iter) if not math.isfinite(med) else f'{med:.0f}'})")
            if ok is None:
                how += f" (fewer than the paper's {lo} iterations were run, so this cannot decide)"
        ratio = c["feed_forward_mean"] / max(c["gatys_mean_curve"][-1], 1e-30)
        out.append({
            "claim": f"feed-forward objective ≈ Gatys after {lo}-{hi} iterations ({size})",
            "holds": ok,
            "measured": med,
            "sentence": (
                f"Objective at {size}: {how}; the paper reports {lo}-{hi}. Feed-forward mean "
                f"{c['feed_forward_mean']:.4g} vs Gatys {c['gatys_mean_curve'][-1]:.4g} after "
                f"{len(c['gatys_mean_curve']) - 1} iterations (ratio {ratio:.2f}): {_verdict(ok)}."
            ),
        })
    return out


def speed_claims(speed: dict[str, Any]) -> list[dict[str, Any]]:
    """~1000x faster than Gatys, 1.5-1.7x faster than Johnson, at each size."""
    out = []
    j_lo, _ = PAPER["speed_johnson_over_paper"]
    for row in speed.get("rows", []):
        size = f"{row['size'][0]}x{row['size'][1]}"
        if "gatys_over_paper" in row:
            r = row["gatys_over_paper"]
            ok = bool(r >= PAPER["speed_gatys_over_paper"])
            out.append({
                "claim": f"~1000x faster than Gatys ({size})", "holds": ok, "measured": r,
                "sentence": (f"Speed vs Gatys at {size}: f_W is {r:.0f}x faster than 400 Gatys "
                             f"iterations (paper ~1000x): {_verdict(ok)}."),
            })
        if "johnson_over_paper" in row:
            r = row["johnson_over_paper"]
            ok = bool(r >= j_lo)
            out.append({
                "claim": f"1.5-1.7x faster than Johnson ({size})", "holds": ok, "measured": r,
                "sentence": (f"Speed vs Johnson at {size}: f_W is {r:.2f}x as fast as Johnson's "
                             f"network (paper 1.5-1.7x): {_verdict(ok)}."),
            })
    return out


def real_eye_claims(real: dict[str, Any]) -> list[dict[str, Any]]:
    if not real or "skipped" in real:
        return []
    before, after = real["gram_distance_before"]["mean"], real["gram_distance_after"]["mean"]
    ok = bool(after < before)
    p = real["detector"]["raw_vs_purified"]
    f = real["pupil"]["raw_vs_purified"]
    ok_p = None if p["n"] == 0 else bool(p["mean"] <= PUPIL_GOAL_REAL)
    return [
        {
            "claim": "purified real eyes are closer to synthetic eyes (VGG Gram statistics)",
            "holds": ok, "measured": after - before,
            "sentence": (f"Real eyes: the Gram distance to synthetic eyes goes {before:.3f} → "
                         f"{after:.3f} ({100 * (after - before) / max(before, 1e-12):+.1f}%): {_verdict(ok)}."),
        },
        {
            "claim": "pupil centre kept on real eyes", "holds": ok_p, "measured": p["mean"],
            "sentence": (f"Real eyes: pupil centre raw → purified {p['mean']:.2f} ± {p['std']:.2f} px (median "
                         f"{p['median']:.2f}) with the FCN-independent detector ({f['mean']:.2f} ± {f['std']:.2f} px "
                         f"with the FCN) at eye width 55 px over {p['n']} eyes (goal ≤ {PUPIL_GOAL_REAL} px): "
                         f"{_verdict(ok_p)}."),
        },
    ]


def all_claims(results: dict[str, Any]) -> list[dict[str, Any]]:
    claims = []
    best = results.get("settings", {}).get("best")
    if "gaze" in results:
        claims += gaze_claims(results["gaze"], best)
    if "pupil" in results:
        claims += pupil_claims(results["pupil"], best)
    if "objective" in results:
        claims += objective_claims(results["objective"]["curves"])
    if "speed" in results:
        claims += speed_claims(results["speed"])
    if "real_eyes" in results:
        claims += real_eye_claims(results["real_eyes"])
    return claims


# ----------------------------------------------------------------------------- tables
def gaze_table(gaze: dict[str, Any]) -> str:
    """Mean error per estimator on every test set (in-domain, raw, twin, each purifier)."""
    errors = gaze["errors"]
    sets = list(dict.fromkeys(s for by_set in errors.values() for s in by_set))
    lines = ["| estimator | " + " | ".join(sets) + " | paper raw → purified |", "|---|" + "---|" * (len(sets) + 1)]
    for est, by_set in errors.items():
        paper = PAPER["gaze"].get(est)
        cells = [f"{by_set[s]:.2f}°" if s in by_set else "-" for s in sets]
        lines.append(f"| {est} | " + " | ".join(cells) + f" | {f'{paper[0]:.1f}° → {paper[1]:.1f}°' if paper else '-'} |")
    return "\n".join(lines)


def ablation_table(gaze: dict[str, Any]) -> str:
    """Gap share per purifier (rows) and estimator (columns), with 95% bootstrap intervals."""
    shares = gaze["gap_share"]
    ests = list(shares)
    names = list(dict.fromkeys(n for by_name in shares.values() for n in by_name))
    labels = gaze.get("labels", {})
    lines = ["| purifier | what changes | " + " | ".join(ests) + " |", "|---|---|" + "---|" * len(ests)]
    for n in names:
        cells = []
        for e in ests:
            g = shares[e].get(n)
            cells.append("-" if g is None else
                         f"{100 * g['gap_share']:+.0f}% [{100 * g['gap_share_lo']:+.0f}, {100 * g['gap_share_hi']:+.0f}]")
        lines.append(f"| {n} | {labels.get(n, '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed_table_md(speed: dict[str, Any]) -> str:
    rows = speed["rows"]
    methods = [m for m in ("paper", "johnson", "gatys") if any(m in r for r in rows)]
    head = ("| size | " + " | ".join(f"{m} (s/image)" for m in methods)
            + " | Gatys / paper | Johnson / paper | paper FPS | paper's f_W on Titan X |")
    lines = [head, "|---|" + "---|" * (len(methods) + 4)]
    for r in rows:
        paper_s = PAPER["speed_seconds"].get(r["size"][0]) if r["size"][0] == r["size"][1] else None
        cells = [_fmt(r.get(m)) for m in methods]
        lines.append(
            f"| {r['size'][0]}x{r['size'][1]} | " + " | ".join(cells)
            + f" | {_fmt(r.get('gatys_over_paper'))} | {_fmt(r.get('johnson_over_paper'))}"
            + f" | {_fmt(r.get('paper_fps'))} | {_fmt(paper_s) if paper_s else '-'} |"
        )
    return "\n".join(lines)


def objective_table(curves: list[dict[str, Any]]) -> str:
    lines = ["| size | images | feed-forward objective (mean) | Gatys after last iteration (mean) "
             "| Gatys iterations run | first Gatys iteration ≤ feed-forward (per image) | paper |",
             "|---|---|---|---|---|---|---|"]
    lo, hi = PAPER["objective_match_iterations"]
    for c in curves:
        m = ", ".join("not reached" if x is None else str(x) for x in c["match_iteration"])
        lines.append(f"| {c['size'][0]}x{c['size'][1]} | {c['n_images']} | {c['feed_forward_mean']:.4g} "
                     f"| {c['gatys_mean_curve'][-1]:.4g} | {len(c['gatys_mean_curve']) - 1} | {m} | {lo}-{hi} |")
    return "\n".join(lines)


def pupil_table(pupil: dict[str, Any]) -> str:
    lines = ["| purifier | raw vs purified, detector (px) | raw vs purified, FCN (px) | truth vs raw, detector "
             "(its own error, px) | truth vs purified, detector (px) |", "|---|---|---|---|---|"]

    def ms(s: dict[str, Any] | None) -> str:
        return "-" if not s else f"{s['mean']:.2f} ± {s['std']:.2f} (median {s['median']:.2f})"

    for name, res in pupil.items():
        d, f = res["detector"], res["fcn"]
        lines.append(f"| {name} | {ms(d['raw_vs_purified'])} | {ms(f['raw_vs_purified'])} | "
                     f"{ms(d.get('truth_vs_raw'))} | {ms(d.get('truth_vs_purified'))} |")
    return "\n".join(lines)


def real_eyes_table(real: dict[str, Any]) -> str:
    b, a = real["gram_distance_before"], real["gram_distance_after"]
    lines = ["| VGG layer | raw vs synthetic | purified vs synthetic |", "|---|---|---|"]
    for layer in [k for k in b if k != "mean"] + ["mean"]:
        lines.append(f"| {layer} | {b[layer]:.3f} | {a[layer]:.3f} |")
    p, d = real["pupil"]["raw_vs_purified"], real["detector"]["raw_vs_purified"]
    lines.append("")
    lines.append(f"Pupil centre raw → purified at eye width 55 px: {d['mean']:.2f} ± {d['std']:.2f} px (median "
                 f"{d['median']:.2f}) with the FCN-independent detector over {d['n']} eyes; {p['mean']:.2f} ± "
                 f"{p['std']:.2f} px with the FCN over {p['n']} of {real['n_real']} eyes where it finds a pupil in both.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- plots
def plot_gaze_curves(gaze: dict[str, Any], path: Path) -> Path:
    from purify_tf.gaze.evaluation import cumulative_error_curve, plot_cumulative_curves

    curves = {k: cumulative_error_curve(np.asarray(v)) for k, v in gaze["per_eye"].items()
              if k.split(" / ")[0] in ("kNN", "SVR")}
    return plot_cumulative_curves(curves, path, title="Cumulative gaze error (Fig. 10), kNN and SVR")


def plot_training_curves(training: dict[str, Any], path: Path) -> Path:
    """Objective and held-out gaze gap share against the training step, one line per purifier:
    "more training gives better gaze" shown, not assumed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax_loss, ax_gaze = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for i, (name, t) in enumerate(training.items()):
        colour = f"C{i % 10}"
        hist = t.get("history") or []
        if hist:
            ax_loss.plot([h["step"] for h in hist], [h["total"] for h in hist], color=colour, label=name)
        gz = t.get("gaze_history") or []
        for key, style in (("knn_gap_share", "-"), ("svr_gap_share", "--")):
            if gz and key in gz[0]:
                ax_gaze.plot([g["step"] for g in gz], [max(100 * g[key], -100.0) for g in gz], style,
                             color=colour, label=f"{name} ({key.split('_')[0]})")
    ax_loss.set(xlabel="step", ylabel="objective (total)", yscale="log", title="Objective")
    ax_gaze.set(xlabel="step", ylabel="gap closed (%, clipped at -100)", title="Held-out gaze gap share")
    ax_gaze.axhline(0, color="grey", lw=0.8)
    for ax in (ax_loss, ax_gaze):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _write_plots(results: dict[str, Any], out_dir: Path) -> dict[str, str]:
    from purify_tf.experiments.objective_curve import plot_objective_curves

    pngs: dict[str, str] = {}
    if results.get("gaze", {}).get("per_eye"):
        pngs["gaze"] = plot_gaze_curves(results["gaze"], out_dir / "gaze_cumulative_error.png").name
    if results.get("training"):
        pngs["training"] = plot_training_curves(results["training"], out_dir / "training_curves.png").name
    if results.get("objective", {}).get("curves"):
        pngs["objective"] = plot_objective_curves(
            results["objective"]["curves"], out_dir / "objective_vs_iteration.png").name
    for name, grid in results.get("grids", {}).items():
        image = image_grid(grid["columns"], grid.get("labels"), max_rows=grid.get("max_rows", 8))
        pngs[f"grid:{name}"] = write_png(image, out_dir / f"grid_{name}.png").name
    for path in sorted(out_dir.glob("grid_*.png")):  # a re-rendered report keeps its run's grids
        pngs.setdefault(f"grid:{path.stem[5:]}", path.name)
    return pngs


def rerender(out_dir: str | Path) -> Path:
    """Write REPORT.md and the plots again from ``out_dir/results.json`` (e.g. after a change to
    the writer), keeping the grids the run drew."""
    out_dir = Path(out_dir)
    return write_report(json.loads((out_dir / "results.json").read_text()), out_dir)


# ----------------------------------------------------------------------------- writer
def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if k != "grids"}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist() if obj.size <= 100_000 else f"<array {obj.shape}>"
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_report(results: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``out_dir/REPORT.md``, the PNG plots and ``results.json``; returns the REPORT path.

    ``results`` keys (each optional): settings, machine, weights_note, fcn, training, gaze,
    pupil, objective, speed, real_eyes, grids ({name: {columns, labels}}), runtime_seconds.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = _write_plots(results, out_dir)
    claims = all_claims(results)
    md: list[str] = ["# purify-tf: the paper's experiments, regenerated", ""]
    md.append(
        "Zhao et al., *Purifying Naturalistic Images through a Real-time Style Transfer Semantics "
        "Network*: each table below is measured in this run and set beside the paper's number "
        "(DESIGN.md, \"Figures the paper reports\"). Test eyes are the built-in renderer's `real` "
        "domain, training eyes its `synthetic` domain, unless a section says otherwise. Every "
        "verdict is computed from the numbers in `results.json`."
    )
    md += ["", "## Summary of claims", ""]
    if claims:
        n_ok = sum(c["holds"] is True for c in claims)
        md.append(f"{n_ok} of {len(claims)} checks hold on this data.")
        md.append("")
        md += [f"- {c['sentence']}" for c in claims]
    else:
        md.append("No experiment results were given.")
    md += ["", "## Machine and settings", ""]
    for k, v in results.get("machine", {}).items():
        md.append(f"- {k}: {v}")
    if "runtime_seconds" in results:
        md.append(f"- total runtime: {results['runtime_seconds'] / 60:.1f} min")
    if results.get("settings"):
        md += ["", "<details><summary>all settings</summary>", "", "```"]
        md += [f"{k} = {v}" for k, v in results["settings"].items()]
        md += ["```", "", "</details>"]
    md += ["", "### Loss weights", "",
           "Balanced rule (docs/DESIGN.md): each content/style role is the mean relative error over its "
           "VGG layers, TV is relative to a synthetic eye's own TV and the luminance term is a per-cell "
           "Mahalanobis distance, so alpha : beta : theta : gamma are plain ratios; the weights each purifier "
           "trained with are in its row of the training table."]
    if results.get("fcn"):
        md += ["", "### Coarse FCN", "", "Held-out IoU: " + ", ".join(
            f"{k} {v:.3f}" for k, v in results["fcn"].get("iou", {}).items())]
    if results.get("training"):
        md += ["", "### Purifier training", "", "| purifier | style | steps | seconds | weights | final loss terms |",
               "|---|---|---|---|---|---|"]
        for name, t in results["training"].items():
            terms = ", ".join(f"{k} {v:.3g}" for k, v in t.get("final_terms", {}).items() if k != "step")
            wts = ", ".join(f"{k} {v:.3g}" for k, v in t.get("loss_weights", {}).items() if k != "tv_scale")
            md.append(f"| {name} | {t.get('style', '-')} | {t.get('steps', '-')} | "
                      f"{_fmt(t.get('seconds'))} | {wts} | {terms} |")
        if "training" in pngs:
            md += ["", "Objective and held-out gaze gap share (kNN solid, SVR dashed) during training:", "",
                   f"![training curves]({pngs['training']})"]
    if "gaze" in results:
        g = results["gaze"]
        md += ["", "## Gaze estimation (Table 3, Fig. 10)", "",
               f"Mean angular error in degrees; estimators fitted on {g.get('n_train', '?')} synthetic eyes, "
               f"tested on {g.get('n_test', '?')} real-domain eyes: in-domain (other synthetic eyes), raw, "
               "their synthetic twins (same geometry: the ideal purification) and purified by each purifier. "
               "The paper's CNN and kNN rows are those trained on UnityEyes; its test set is MPIIGaze.", "",
               gaze_table(g), "", "### Ablation: share of the raw → twin gap closed", "",
               "(raw − purified) / (raw − twin) on mean errors, with 95% paired-bootstrap intervals over the "
               f"test eyes; 100% = as good as the twins, negative = worse than raw. Goal: ≥ {100 * GAP_GOAL:.0f}% "
               "for every estimator.", "", ablation_table(g)]
        if "gaze" in pngs:
            md += ["", f"![cumulative gaze error]({pngs['gaze']})"]
    if "pupil" in results:
        md += ["", "## Pupil-centre preservation", "",
               "Shift of the pupil centre in px at an eye width of 55 px, measured by the FCN (pupil centroid) and "
               "by a detector independent of it (difference-of-Gaussians darkest blob, "
               "`purify_tf.experiments.pupil.darkest_blob_centres`).",
               "", pupil_table(results["pupil"])]
    if "objective" in results:
        o = results["objective"]
        md += ["", "## Objective: feed-forward vs Gatys (Fig. 8)", "",
               f"f_W trained at {o.get('train_size', '?')}; Gatys from {o['curves'][0]['init'] if o['curves'] else '?'} "
               "initialisation with projected L-BFGS (L-BFGS-B, box [0, 255]) on the same objective.", "",
               objective_table(o["curves"])]
        if "objective" in pngs:
            md += ["", f"![objective vs iteration]({pngs['objective']})"]
    if "speed" in results:
        s = results["speed"]
        md += ["", "## Speed (Table 2)", "",
               f"Seconds per image on {s.get('device', '?')}, all in this run. Gatys: "
               f"{s['gatys_iterations_measured']} L-BFGS iterations timed and scaled linearly to "
               f"{s['gatys_scaled_to']} (not run in full).", "", speed_table_md(s)]
        if s.get("notes"):
            md += [""] + [f"- {n}" for n in s["notes"]]
    md += ["", "## Real eyes, no labels", ""]
    real = results.get("real_eyes")
    if not real:
        md.append("Not run.")
    elif "skipped" in real:
        md.append(f"Skipped: {real['skipped']}")
    else:
        md += [real.get("description", ""), "", real_eyes_table(real)]
    grid_keys = [k for k in pngs if k.startswith("grid:")]
    if grid_keys:
        md += ["", "## Sample grids", ""]
        for k in grid_keys:
            labels = (results.get("grids", {}).get(k[5:], {}).get("labels")
                      or results.get("grid_labels", {}).get(k[5:]) or [])
            md += [f"**{k[5:]}** ({' | '.join(labels)})", "", f"![{k[5:]}]({pngs[k]})", ""]
    if results.get("gaps"):
        md += ["", "## Known gaps", ""] + [f"- {g}" for g in results["gaps"]]
    path = out_dir / "REPORT.md"
    path.write_text("\n".join(md).rstrip() + "\n")
    saved = {**results, "grid_labels": {**results.get("grid_labels", {}),
                                        **{k: g.get("labels") for k, g in results.get("grids", {}).items()}}}
    (out_dir / "results.json").write_text(json.dumps(_jsonable(saved), indent=1, default=str))
    return path
