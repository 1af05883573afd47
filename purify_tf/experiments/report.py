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

from purify_tf.experiments.claims import GAP_GOAL, PAPER, all_claims, fmt
from purify_tf.experiments.common import write_png
from purify_tf.experiments.report_tables import (
    ablation_table,
    default_sentence,
    difference_table,
    real_eyes_table,
)
from purify_tf.palette import image_grid


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


def speed_table_md(speed: dict[str, Any]) -> str:
    rows = speed["rows"]
    methods = [m for m in ("paper", "johnson", "gatys") if any(m in r for r in rows)]
    head = ("| size | " + " | ".join(f"{m} (s/image)" for m in methods)
            + " | Gatys / paper | Johnson / paper | paper FPS | paper's f_W on Titan X |")
    lines = [head, "|---|" + "---|" * (len(methods) + 4)]
    for r in rows:
        paper_s = PAPER["speed_seconds"].get(r["size"][0]) if r["size"][0] == r["size"][1] else None
        cells = [fmt(r.get(m)) for m in methods]
        lines.append(
            f"| {r['size'][0]}x{r['size'][1]} | " + " | ".join(cells)
            + f" | {fmt(r.get('gatys_over_paper'))} | {fmt(r.get('johnson_over_paper'))}"
            + f" | {fmt(r.get('paper_fps'))} | {fmt(paper_s) if paper_s else '-'} |"
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


# ----------------------------------------------------------------------------- plots
def plot_gaze_curves(gaze: dict[str, Any], path: Path) -> Path:
    from purify_tf.gaze.evaluation import cumulative_error_curve, plot_cumulative_curves

    curves = {k: cumulative_error_curve(np.asarray(v)) for k, v in gaze["per_eye"].items()
              if k.split(" / ")[0] in ("kNN", "SVR")}
    return plot_cumulative_curves(curves, path, title="Cumulative gaze error (Fig. 10), kNN and SVR")


def _critic_keys(training: dict[str, Any]) -> list[str]:
    """The critic-score keys any purifier logged (e.g. ``critic/real``, ``critic/purified``)."""
    return list(dict.fromkeys(k for t in training.values() for h in (t.get("history") or [])
                              for k in h if "critic" in k and isinstance(h[k], (int, float))))


def plot_training_curves(training: dict[str, Any], path: Path) -> Path:
    """Objective, held-out gaze gap share and (when logged) critic scores against the training step,
    one colour per purifier: "more training gives better gaze" shown, not assumed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    critic = _critic_keys(training)
    n_axes = 3 if critic else 2
    fig = Figure(figsize=(5.5 * n_axes, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, n_axes, i + 1) for i in range(n_axes)]
    ax_loss, ax_gaze = axes[:2]
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
        for key, style in zip(critic, ("-", "--", ":", "-."), strict=False):
            pts = [(h["step"], h[key]) for h in hist if key in h]
            if pts:
                axes[2].plot(*zip(*pts, strict=True), style, color=colour, label=f"{name} ({key})")
    ax_loss.set(xlabel="step", ylabel="objective (total)", yscale="log", title="Objective")
    ax_gaze.set(xlabel="step", ylabel="gap closed (%, clipped at -100)", title="Held-out gaze gap share")
    ax_gaze.axhline(0, color="grey", lw=0.8)
    if critic:
        axes[2].set(xlabel="step", ylabel="critic score", title="Critic scores")
    for ax in axes:
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
    md = _intro_md(results) + _real_gaze_md(results.get("real_gaze")) + _settings_md(results)
    # Each measured section, only when this run measured it.
    real = results.get("real_eyes")
    for key, section in (("training", _training_md), ("gaze", lambda g, p: _gaze_md(g, p, real)),
                         ("pupil", _pupil_md), ("objective", _objective_md), ("speed", _speed_md)):
        if results.get(key):
            md += section(results[key], pngs)
    md += _real_eyes_md(real, results) + _grids_md(results, pngs)
    if results.get("gaps"):
        md += ["", "## Known gaps", ""] + [f"- {g}" for g in results["gaps"]]
    path = out_dir / "REPORT.md"
    path.write_text("\n".join(md).rstrip() + "\n")
    saved = {**results, "grid_labels": {**results.get("grid_labels", {}),
                                        **{k: g.get("labels") for k, g in results.get("grids", {}).items()}}}
    (out_dir / "results.json").write_text(json.dumps(_jsonable(saved), indent=1, default=str))
    return path


def _figure(pngs: dict[str, str], key: str, alt: str) -> list[str]:
    """The Markdown lines of a plot this run drew (none when it drew none)."""
    return ["", f"![{alt}]({pngs[key]})"] if key in pngs else []


def _intro_md(results: dict[str, Any]) -> list[str]:
    claims = all_claims(results)
    md = ["# purify-tf: the paper's experiments, regenerated", "",
          "Zhao et al., *Purifying Naturalistic Images through a Real-time Style Transfer Semantics "
          "Network*: each table below is measured in this run and set beside the paper's number "
          "(DESIGN.md, \"Figures the paper reports\"). Test eyes are the built-in renderer's `real` "
          "domain, training eyes its `synthetic` domain, unless a section says otherwise. Every "
          "verdict is computed from the numbers in `results.json`.", "", "## Summary of claims", ""]
    if not claims:
        return md + ["No experiment results were given."]
    n_ok = sum(c["holds"] is True for c in claims)
    return md + [f"{n_ok} of {len(claims)} checks hold on this data.", ""] + [f"- {c['sentence']}" for c in claims]


def _settings_md(results: dict[str, Any]) -> list[str]:
    md = ["", "## Machine and settings", ""]
    md += [f"- {k}: {v}" for k, v in results.get("machine", {}).items()]
    if "runtime_seconds" in results:
        md.append(f"- total runtime: {results['runtime_seconds'] / 60:.1f} min")
    settings = results.get("settings") or {}
    if settings:
        md += ["", "<details><summary>all settings</summary>", "", "```"]
        md += [f"{k} = {v}" for k, v in settings.items()]
        md += ["```", "", "</details>"]
    weighting = settings.get("train.layer_weighting")
    if weighting is not None:
        md += ["", "### Loss weights", "", LAYER_WEIGHTING_NOTES.get(
            weighting, f"Per-layer weights: {weighting}.") + " The weights each purifier trained with are in "
            "its row of the training table."]
    if results.get("fcn"):
        md += ["", "### Coarse FCN", "", "Held-out IoU: " + ", ".join(
            f"{k} {v:.3f}" for k, v in results["fcn"].get("iou", {}).items())]
    return md


# What each layer_weighting setting does (a description of the rule applied, not a measurement).
LAYER_WEIGHTING_NOTES = {
    "balanced": "Weights by the balanced rule (docs/DESIGN.md): each content/style role is the mean relative error over its VGG "
                "layers (each layer's term divided by its value for all-zero features, averaged over the style "
                "set, and by the role's layer count), TV is relative to a synthetic eye's own TV and the luminance "
                "term is a per-cell Mahalanobis distance, so alpha : beta : theta : gamma are plain ratios.",
    "unit": "Per-layer weights: 1.0 for every layer (the paper's literal weights).",
}


def _training_md(training: dict[str, Any], pngs: dict[str, str]) -> list[str]:
    md = ["", "### Purifier training", "", "| purifier | style | steps | seconds | weights | final loss terms |",
          "|---|---|---|---|---|---|"]
    for name, t in training.items():
        terms = ", ".join(f"{k} {v:.3g}" for k, v in t.get("final_terms", {}).items() if k != "step")
        wts = ", ".join(f"{k} {v:.3g}" for k, v in t.get("loss_weights", {}).items() if k != "tv_scale")
        md.append(f"| {name} | {t.get('style', '-')} | {t.get('steps', '-')} | "
                  f"{fmt(t.get('seconds'))} | {wts} | {terms} |")
    if "training" in pngs:
        critic = ", critic scores" if _critic_keys(training) else ""
        md += ["", f"Objective, held-out gaze gap share (kNN solid, SVR dashed){critic} during training:", "",
               f"![training curves]({pngs['training']})"]
    return md


def _gaze_md(g: dict[str, Any], pngs: dict[str, str], real: dict[str, Any] | None = None) -> list[str]:
    md = ["", "## Gaze estimation (Table 3, Fig. 10)", "",
          f"Mean angular error in degrees; estimators fitted on {g.get('n_train', '?')} synthetic eyes, "
          f"tested on {g.get('n_test', '?')} real-domain eyes: in-domain (other synthetic eyes), raw, "
          "their synthetic twins (same geometry: the ideal purification) and purified by each purifier. "
          "The paper's CNN and kNN rows are those trained on UnityEyes; its test set is MPIIGaze.", "",
          gaze_table(g), "", "### Ablation: share of the raw → twin gap closed", "",
          "(raw − purified) / (raw − twin) on mean errors, with 95% paired-bootstrap intervals over the "
          f"test eyes; 100% = as good as the twins, negative = worse than raw. Goal: ≥ {100 * GAP_GOAL:.0f}% "
          "for every estimator. The real-eye columns (when measured) are from the section \"Real eyes, no "
          "labels\": KID to synthetic eyes relative to the mean/contrast match (goal ≤ -25%) and the mean "
          "(median) pupil shift on the real crops.", "", ablation_table(g, real)]
    diff = difference_table(g)
    if diff:
        md += ["", f"#### Difference to the {g['vs_reference']['reference']}", "",
               "Gap share of each row minus that of the reference, in percentage points, with 95% "
               "paired-bootstrap intervals (the same resampled test eyes for both).", "", diff]
    return md + _figure(pngs, "gaze", "cumulative gaze error")


def _pupil_md(pupil: dict[str, Any], pngs: dict[str, str]) -> list[str]:
    return ["", "## Pupil-centre preservation", "",
            "Shift of the pupil centre in px at an eye width of 55 px, measured by the FCN (pupil centroid) and "
            "by a detector independent of it (difference-of-Gaussians darkest blob, "
            "`purify_tf.experiments.pupil.darkest_blob_centres`).",
            "", pupil_table(pupil)]


def _objective_md(o: dict[str, Any], pngs: dict[str, str]) -> list[str]:
    md = ["", "## Objective: feed-forward vs Gatys (Fig. 8)", "",
          f"f_W trained at {o.get('train_size', '?')}; Gatys from {o['curves'][0]['init'] if o['curves'] else '?'} "
          "initialisation with projected L-BFGS (L-BFGS-B, box [0, 255]) on the same objective.", ""]
    if o.get("terms"):
        left_out = "; ".join(f"{k}: {v}" for k, v in o.get("left_out", {}).items())
        md += [f"The objective row {o.get('variant', '?')} was trained with, on the terms of one output image: "
               f"{', '.join(o['terms'])}" + (f" (left out, as no single image has them: {left_out})" if left_out else "")
               + ("; for the paired term each eye is its own pair eye, against its synthetic twin" if "paired" in o["terms"]
                  else "") + ".", ""]
        if o.get("objective_table"):
            md += [o["objective_table"], ""]
    md += [objective_table(o["curves"])]
    return md + _figure(pngs, "objective", "objective vs iteration")


def _speed_md(s: dict[str, Any], pngs: dict[str, str]) -> list[str]:
    md = ["", "## Speed (Table 2)", "",
          f"Seconds per image on {s.get('device', '?')}, all in this run. Gatys: "
          f"{s['gatys_iterations_measured']} L-BFGS iterations timed (fewer at larger sizes, see the notes) "
          f"and scaled linearly to {s['gatys_scaled_to']} (not run in full).", "", speed_table_md(s)]
    if s.get("notes"):
        md += [""] + [f"- {n}" for n in s["notes"]]
    return md


def _real_gaze_md(real_gaze: dict[str, Any] | None) -> list[str]:
    """The measure that decides (docs/DESIGN.md): real labelled eyes of subjects no purifier saw."""
    from purify_tf.experiments.real_gaze import OFFSET_HEADING, offset_markdown, real_gaze_markdown

    md = ["", "## Real labelled eyes: gaze error (the measure that decides)", ""]
    if not real_gaze:
        return md + ["Not run."]
    if "skipped" in real_gaze:
        return md + [f"Skipped: {real_gaze['skipped']}"]
    return (md + [real_gaze["split"], "",
                 "Each cell: mean angular error in degrees; for image sets, (change against raw [95% paired "
                 "bootstrap interval over the test eyes]; share of the raw → floor gap closed [95% interval]).", "",
                 real_gaze_markdown(real_gaze), "", f"{OFFSET_HEADING}:", "", offset_markdown(real_gaze), ""]
            + [f"- {n}: {label}" for n, label in real_gaze.get("labels", {}).items()])


def _real_eyes_md(real: dict[str, Any] | None, results: dict[str, Any]) -> list[str]:
    md = ["", "## Real eyes, no labels", ""]
    if not real:
        return md + ["Not run."]
    if "skipped" in real:
        return md + [f"Skipped: {real['skipped']}"]
    if "rows" not in real:  # a results.json from before the KID table
        return md + [real.get("description", "")]
    return md + [real.get("description", ""), "", real_eyes_table(real, results.get("pupil")), "",
                 default_sentence(real, results.get("gaze"))]


def _grids_md(results: dict[str, Any], pngs: dict[str, str]) -> list[str]:
    grid_keys = [k for k in pngs if k.startswith("grid:")]
    if not grid_keys:
        return []
    md = ["", "## Sample grids", ""]
    for k in grid_keys:
        labels = (results.get("grids", {}).get(k[5:], {}).get("labels")
                  or results.get("grid_labels", {}).get(k[5:]) or [])
        md += [f"**{k[5:]}** ({' | '.join(labels)})", "", f"![{k[5:]}]({pngs[k]})", ""]
    return md
