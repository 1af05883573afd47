"""The paper's Table 2: seconds per image of f_W (paper and Johnson configs) and of Gatys.

Everything is timed in one process on one machine so that the ratios are meaningful even where
the absolute numbers are not comparable with the paper's Titan X. Gatys's 400 L-BFGS iterations
are too slow to run at every size on a CPU, so a few iterations are timed and scaled linearly
(the result says so).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from purify_tf.baselines.gatys import PAPER_ITERATIONS, time_gatys_iterations

# (height, width) -> (objective_fn, initial image (1, H, W, 3)) for the Gatys timing.
GatysSetup = Callable[[int, int], tuple[Callable[[tf.Tensor], tf.Tensor], np.ndarray]]


def time_feed_forward(model: Any, height: int, width: int, repeats: int = 5, seed: int = 0) -> float:
    """Median seconds for one image of height x width through ``model`` (after two warm-ups).

    The call is a ``tf.function`` with a fixed input signature (what a deployment runs);
    ``.numpy()`` forces the result so the time covers the whole computation.
    """
    x = tf.constant(
        np.random.default_rng(seed).uniform(0, 255, (1, height, width, 3)).astype(np.float32)
    )
    fn = tf.function(lambda t: model(t, training=False), autograph=False,
                     input_signature=[tf.TensorSpec((1, height, width, 3), tf.float32)])
    for _ in range(2):
        fn(x).numpy()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn(x).numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def speed_table(
    models: Mapping[str, Any],
    sizes: Sequence[tuple[int, int]],
    gatys_setup: GatysSetup | None = None,
    gatys_iterations: int = 3,
    scale_to: int = PAPER_ITERATIONS,
    repeats: int = 5,
    gatys_max_pixels: int | None = None,
) -> dict[str, Any]:
    """Table 2: one row per size with seconds per image per method and the speed-up ratios.

    ``models`` maps a name ("paper", "johnson") to a transformer; Gatys runs when
    ``gatys_setup`` is given. Ratios are ``other / paper`` (how many times faster f_W is). Above
    ``gatys_max_pixels`` per image, fewer Gatys iterations are timed (:func:`gatys_iterations_at`)
    so that a large size costs no more than ``gatys_iterations`` at that many pixels.
    """
    rows = []
    notes = []
    for h, w in sizes:
        row: dict[str, Any] = {"size": [int(h), int(w)]}
        for name, model in models.items():
            row[name] = time_feed_forward(model, h, w, repeats=repeats)
        if gatys_setup is not None:
            fn, init = gatys_setup(h, w)
            n_iter = gatys_iterations_at(h, w, gatys_iterations, gatys_max_pixels)
            timing = time_gatys_iterations(fn, init, n_iter=n_iter, scale_to=scale_to)
            row["gatys"] = timing.estimated_seconds
            row["gatys_iterations"] = n_iter
            row["gatys_seconds_per_iteration"] = timing.seconds_per_iteration
            notes.append(f"{h}x{w}: {timing.note}")
        base = row.get("paper")
        if base:
            others = [n for n in (*models, "gatys") if n != "paper" and n in row]
            for name in others:
                row[f"{name}_over_paper"] = float(row[name] / base)
            row["paper_fps"] = float(1.0 / base)
        rows.append(row)
    return {
        "rows": rows,
        "gatys_iterations_measured": int(gatys_iterations),
        "gatys_scaled_to": int(scale_to),
        "notes": notes,
        "device": _device_name(),
    }


def gatys_iterations_at(height: int, width: int, iterations: int, max_pixels: int | None) -> int:
    """Gatys iterations to time at height x width: ``iterations`` up to ``max_pixels`` per image,
    above it scaled down with the pixel count (at least 1), since time per iteration grows with it."""
    pixels = int(height) * int(width)
    if not max_pixels or pixels <= max_pixels:
        return int(iterations)
    return max(1, int(iterations * max_pixels // pixels))


def _device_name() -> str:
    gpus = tf.config.list_logical_devices("GPU")
    return f"GPU ({gpus[0].name})" if gpus else "CPU"
