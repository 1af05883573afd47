"""Choosing an estimator's settings by k-fold cross-validation on its own training eyes.

The estimators of the real-eye table are trained on synthetic eyes, so their settings are chosen on
synthetic eyes too: no real eye and no real label enters the choice, and what the table then says
about purification is not tuned to the eyes it is measured on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from purify_tf.errors import ConfigError
from purify_tf.vectors import angular_error_deg


def cross_validated_errors(
    make: Callable[..., Any],
    grid: Sequence[Mapping[str, Any]],
    X: np.ndarray,
    gaze: np.ndarray,
    folds: int = 3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Mean angular error (degrees) over ``folds`` held-out folds for each setting of ``grid``:
    ``make(**setting)`` builds an estimator with ``fit(X, gaze)`` / ``predict(X) -> vectors``.
    Every setting sees the same folds. Returns ``[{**setting, "cv_error_deg", "fold_errors_deg"}]``."""
    if folds < 2:
        raise ConfigError(f"cross-validation needs folds >= 2, got {folds}")
    if len(X) != len(gaze) or len(X) < folds:
        raise ConfigError(f"cross-validation: {len(X)} eyes and {len(gaze)} gaze labels for {folds} folds")
    splits = list(KFold(folds, shuffle=True, random_state=seed).split(X))
    rows = []
    for setting in grid:
        errors = []
        for train, held_out in splits:
            model = make(**setting)
            model.fit(X[train], gaze[train])
            errors.append(float(angular_error_deg(model.predict(X[held_out]), gaze[held_out]).mean()))
        rows.append({**setting, "cv_error_deg": float(np.mean(errors)), "fold_errors_deg": errors})
    return rows


def best_setting(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The setting with the lowest cross-validated error (the first on a tie)."""
    if not rows:
        raise ConfigError("best_setting: no cross-validated settings")
    best = min(rows, key=lambda r: r["cv_error_deg"])
    return {k: v for k, v in best.items() if k not in ("cv_error_deg", "fold_errors_deg")}
