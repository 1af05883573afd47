"""The paper's Fig. 8: the feed-forward objective against Gatys's objective per L-BFGS iteration.

For each test image the network's output is scored on the same objective (Eq. 19) that Gatys et
al. minimise directly on the image; the first Gatys iteration whose objective is at or below the
feed-forward value says how many optimisation steps one forward pass is worth (the paper: 50-100,
also at 512 and 1024 px for a network trained at 256 px).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from purify_tf.baselines.gatys import run_gatys
from purify_tf.models.transformer import apply_padded
from purify_tf.palette import as_rgb_uint8


def first_match(history: list[float], value: float) -> int | None:
    """First iteration i with ``history[i] <= value`` (None when Gatys never gets there)."""
    for i, v in enumerate(history):
        if v <= value:
            return i
    return None


def paired_targets(objective: Any, twins: np.ndarray | None, compared: np.ndarray) -> list[Any]:
    """Per image, the objective's paired-term targets from its synthetic twin (``compared``, the
    eye as the front end leaves it, gives the structure target's moments); Nones without twins
    or without the paired term."""
    if twins is None or getattr(getattr(objective, "domain", None), "paired", 0.0) <= 0:
        return [None] * len(compared)
    return [objective.paired_targets(tf.constant(twins[i : i + 1], tf.float32),
                                     tf.constant(compared[i : i + 1], tf.float32)) for i in range(len(compared))]


def feed_forward_objective(
    model: Any, objective: Any, contents: np.ndarray, masks: np.ndarray | None, targets: Any,
    compared: np.ndarray | None = None, pair_targets: list[Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(per-image objective of f_W's outputs (N,), outputs uint8 (N, H, W, 3)); ``compared``: the
    images the content terms compare with (default: the contents); ``pair_targets``: per image,
    the paired term's targets (:func:`paired_targets`)."""
    compared = contents if compared is None else compared
    pair_targets = pair_targets or [None] * len(contents)
    values, outputs = [], []
    for i in range(len(contents)):
        c = tf.constant(contents[i : i + 1], tf.float32)
        out = apply_padded(model, c)
        m = None if masks is None else tf.constant(masks[i : i + 1].astype(np.int32))
        ref = tf.constant(compared[i : i + 1], tf.float32)
        paired = {} if pair_targets[i] is None else {"paired": (out, pair_targets[i])}
        values.append(float(objective(out, ref, m, targets, **paired)["total"]))
        outputs.append(out.numpy()[0])
    return np.asarray(values), as_rgb_uint8(np.stack(outputs))


def objective_curves(
    model: Any,
    objective: Any,
    contents: np.ndarray,
    content_masks: np.ndarray | None,
    style_image: np.ndarray,
    style_mask: np.ndarray | None,
    gatys_iterations: int = 100,
    init: str = "noise",
    seed: int = 0,
    targets: Any = None,
    loss_contents: Any = None,
    twins: np.ndarray | None = None,
) -> dict[str, Any]:
    """Fig. 8 at one image size: the contents' size (N, H, W, 3); style image at the same size.

    Returns ``size``, per-image ``feed_forward`` values, ``gatys`` histories (n_iter + 1 values,
    index 0 the initial image), ``match_iteration`` per image (None: not reached within
    ``gatys_iterations``), ``gatys_seconds`` per image and the mean curve. ``targets`` replaces
    the style image's targets (e.g. a style set's mean Grams); ``loss_contents`` maps the
    contents to what the objective compares with (the illumination front end's output);
    ``twins``: the contents' synthetic twins, for an objective with the paired term (each content
    eye is then its own pair eye, for f_W and for Gatys alike).
    """
    contents = as_rgb_uint8(contents)
    style = as_rgb_uint8(np.asarray(style_image)[None] if np.ndim(style_image) == 3 else style_image)
    smask = None if style_mask is None else np.asarray(style_mask).reshape(style.shape[:3])
    if targets is None:
        targets = objective.style_targets(
            tf.constant(style, tf.float32), None if smask is None else tf.constant(smask.astype(np.int32))
        )
    compared = contents if loss_contents is None else as_rgb_uint8(np.asarray(loss_contents(contents)))
    pairs = paired_targets(objective, twins, compared)
    ff, _ = feed_forward_objective(model, objective, contents, content_masks, targets, compared, pairs)
    histories, matches, seconds, messages = [], [], [], []
    for i in range(len(contents)):
        mask = None if content_masks is None else np.asarray(content_masks[i])
        res = run_gatys(objective, compared[i], mask, targets, init=init, seed=seed + i,
                        max_iter=gatys_iterations, paired_targets=pairs[i])
        histories.append([float(v) for v in res.objective_history])
        matches.append(first_match(res.objective_history, float(ff[i])))
        seconds.append(float(res.seconds))
        messages.append(res.message)
    length = min(len(h) for h in histories)
    mean_curve = np.mean([h[:length] for h in histories], axis=0)
    return {
        "size": [int(contents.shape[1]), int(contents.shape[2])],
        "n_images": int(len(contents)),
        "gatys_iterations": int(gatys_iterations),
        "init": init,
        "feed_forward": [float(v) for v in ff],
        "feed_forward_mean": float(np.mean(ff)),
        "gatys": histories,
        "gatys_mean_curve": [float(v) for v in mean_curve],
        "mean_curve_match": first_match(list(mean_curve), float(np.mean(ff))),
        "match_iteration": matches,
        "gatys_seconds": seconds,
        "gatys_messages": messages,
    }


def plot_objective_curves(curves: list[dict[str, Any]], path: str | Path) -> Path:
    """Fig. 8: mean Gatys objective per iteration (log scale) with the feed-forward level."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = max(len(curves), 1)
    fig = Figure(figsize=(4.2 * n, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    for k, c in enumerate(curves):
        ax = fig.add_subplot(1, n, k + 1)
        y = np.asarray(c["gatys_mean_curve"], np.float64)
        ax.plot(np.arange(len(y)), y, label="Gatys (L-BFGS-B)")
        ax.axhline(c["feed_forward_mean"], color="tab:red", linestyle="--", label="feed-forward f_W")
        if c.get("mean_curve_match") is not None:
            ax.axvline(c["mean_curve_match"], color="gray", linestyle=":", linewidth=1)
        if np.all(y > 0):
            ax.set_yscale("log")
        ax.set_title(f"{c['size'][0]}x{c['size'][1]}")
        ax.set_xlabel("L-BFGS iteration")
        if k == 0:
            ax.set_ylabel("objective (Eq. 19)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
