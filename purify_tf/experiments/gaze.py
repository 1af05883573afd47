"""The paper's Table 3 and Fig. 10: gaze estimators trained on synthetic eyes, tested on real
eyes raw and purified.

On the built-in renderer the synthetic domain is the training set and the real domain (same
geometry sampler, outdoor appearance) the test set, so the only difference purification can
remove is appearance. Test eyes are rendered at the purifier's resolution, purified there, and
converted to the estimators' 35x55 grayscale input like the raw ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from purify_tf.data.pipeline import to_gaze_input
from purify_tf.data.renderer import render_eyes
from purify_tf.gaze.evaluation import EvaluationResults, evaluate_estimators

DISPLAY_NAMES = {"cnn": "CNN", "knn": "kNN", "svr": "SVR", "rf": "RF", "alr": "ALR"}
ESTIMATORS = tuple(DISPLAY_NAMES)


def make_estimators(
    names: Sequence[str], cnn_epochs: int = 30, cnn_batch_size: int = 512, seed: int = 0,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Estimators by name (cnn, knn, svr, rf, alr), keyed by the paper's display names."""
    from purify_tf.gaze.estimators import make_estimator

    out: dict[str, Any] = {}
    for name in names:
        key = name.lower().strip()
        if key == "cnn":
            from purify_tf.gaze.cnn import CNNGaze

            out["CNN"] = CNNGaze(epochs=cnn_epochs, batch_size=cnn_batch_size, seed=seed)
        elif key in ("knn", "rf"):
            out[DISPLAY_NAMES[key]] = make_estimator(key, n_jobs=n_jobs, seed=seed)
        else:
            out[DISPLAY_NAMES.get(key, key)] = make_estimator(key, seed=seed)
    return out


def render_gaze_sets(
    n_train: int, n_test: int, height: int, width: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Synthetic training eyes and real-domain test eyes (disjoint seeds), rendered at H x W.

    Returns ``train_X`` (35x55 gaze input), ``train_gaze``, ``test_images`` uint8 (for
    purification), ``test_gaze``, ``test_pupil_center``, ``test_mask``.
    """
    train = render_eyes(n_train, height, width, domain="synthetic", seed=seed + 1)
    test = render_eyes(n_test, height, width, domain="real", seed=seed + 2)
    return {
        "train_X": to_gaze_input(train["image"]),
        "train_gaze": train["gaze"],
        "test_images": test["image"],
        "test_gaze": test["gaze"],
        "test_pupil_center": test["pupil_center"],
        "test_mask": test["mask"],
    }


def gaze_experiment(
    estimators: Mapping[str, Any],
    train_X: np.ndarray,
    train_gaze: np.ndarray,
    test_gaze: np.ndarray,
    test_sets: Mapping[str, np.ndarray],
) -> EvaluationResults:
    """Fit each estimator once on the synthetic eyes; mean angular error on every test set.

    ``test_sets`` maps a name ("raw", "purified (paper)", ...) to images of the same eyes, in any
    form ``to_gaze_input`` takes; all share ``test_gaze``.
    """
    sets = {name: (to_gaze_input(x) if np.ndim(x) != 4 or np.shape(x)[1:] != (35, 55, 1) else x,
                   test_gaze) for name, x in test_sets.items()}
    return evaluate_estimators(estimators, train_X, train_gaze, sets)


def summarise(results: EvaluationResults, max_deg: float = 30.0) -> dict[str, Any]:
    """JSON-friendly summary: the Table 3 dict, rows, and per-sample errors for Fig. 10."""
    return {
        "table": results.table(),
        "rows": results.rows,
        "errors": {f"{est} / {ts}": [float(e) for e in err] for (est, ts), err in results.errors.items()},
        "max_deg": max_deg,
    }
