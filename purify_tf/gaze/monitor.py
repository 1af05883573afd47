"""Gaze error during training: the task metric, logged beside the objective.

A lower objective is not the goal; a smaller gaze error on purified real eyes is. The monitor
fits fast classical estimators once on synthetic eyes, keeps a fixed set of real-domain eyes
with their synthetic twins (the ideal purification), and at every call purifies the real eyes
with the current transformer and reports each estimator's mean error and gap share.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from purify_tf.gaze.evaluation import gap_share
from purify_tf.vectors import angular_error_deg


class GazeMonitor:
    """``monitor(model) -> {"<est>_error": deg, "<est>_gap_share": share}`` for each estimator.

    Args:
      estimators: {name: fitted estimator} (``predict(X) -> (N, 3)``).
      real_images: uint8 (N, H, W, 3) real-domain eyes at the purifier's training size.
      twin_images: their synthetic twins (same geometry).
      gaze: (N, 3) true gaze vectors.
    """

    def __init__(self, estimators: Mapping[str, Any], real_images: np.ndarray, twin_images: np.ndarray,
                 gaze: np.ndarray, batch_size: int = 64) -> None:
        from purify_tf.data.image_io import to_gaze_input

        self.estimators = dict(estimators)
        self.images = np.asarray(real_images)
        self.gaze = np.asarray(gaze)
        self.batch_size = batch_size
        raw_x, twin_x = to_gaze_input(self.images), to_gaze_input(twin_images)
        self.raw = {n: angular_error_deg(e.predict(raw_x), self.gaze) for n, e in self.estimators.items()}
        self.twin = {n: angular_error_deg(e.predict(twin_x), self.gaze) for n, e in self.estimators.items()}

    def __call__(self, model: Any) -> dict[str, float]:
        import tensorflow as tf

        from purify_tf.data.image_io import to_gaze_input
        from purify_tf.models.transformer import apply_padded

        outs = [apply_padded(model, tf.constant(self.images[i : i + self.batch_size], tf.float32)).numpy()
                for i in range(0, len(self.images), self.batch_size)]
        x = to_gaze_input(np.clip(np.rint(np.concatenate(outs)), 0, 255).astype(np.uint8))
        out: dict[str, float] = {}
        for name, est in self.estimators.items():
            err = angular_error_deg(est.predict(x), self.gaze)
            out[f"{name.lower()}_error"] = float(err.mean())
            out[f"{name.lower()}_gap_share"] = gap_share(self.raw[name], self.twin[name], err)
        return out


MONITOR_SEED = 2000  # renderer seed offset of the monitor's eyes (disjoint from training streams)


def gaze_monitor(height: int, width: int, seed: int = 0, n_train: int = 2000, n_eval: int = 200) -> GazeMonitor:
    """A monitor on the renderer: kNN and SVR fitted on ``n_train`` synthetic eyes, scored on
    ``n_eval`` real-domain eyes and their synthetic twins (about 10 s to build on 2 cores)."""
    from purify_tf.data.image_io import to_gaze_input
    from purify_tf.data.renderer import render_eyes
    from purify_tf.gaze.estimators import make_estimator

    train = render_eyes(n_train, height, width, domain="synthetic", seed=seed + MONITOR_SEED + 1)
    x = to_gaze_input(train["image"])
    estimators = {name: make_estimator(key, seed=seed).fit(x, train["gaze"])
                  for name, key in (("kNN", "knn"), ("SVR", "svr"))}
    real = render_eyes(n_eval, height, width, domain="real", seed=seed + MONITOR_SEED)
    twin = render_eyes(n_eval, height, width, domain="synthetic", seed=seed + MONITOR_SEED)
    return GazeMonitor(estimators, real["image"], twin["image"], real["gaze"])
