"""SVR's settings chosen on the real-eye table's own synthetic training sets (``tools.select_svr``).

Cross-validation (``gaze.selection``) on each synthetic set the table fits its estimators on: no real
eye and no real label enters the choice (docs/DESIGN.md, "SVR's C, chosen on synthetic eyes").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from purify_tf.data.image_io import to_gaze_input
from purify_tf.experiments.real_gaze import (
    DRAW_SEED_STRIDE,
    RealGazeConfig,
    load_real_gaze_data,
    synthetic_training_set,
)
from purify_tf.gaze.estimators import SVRGaze
from purify_tf.gaze.selection import best_setting, cross_validated_errors


def svr_selection(
    labels_dir: str | None,
    c_values: Sequence[float],
    gamma_scales: Sequence[float],
    n_synthetic: int = 4000,
    draws: int = 3,
    folds: int = 3,
    seed: int = 0,
    progress: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """SVR's C and gamma (times sklearn's 'scale') by cross-validation on each synthetic training set
    of the real-eye table: the same sets (gaze and head pose resampled from ``labels_dir``'s training
    subjects, same seeds) when ``labels_dir`` is given, else renderer eyes in its own gaze range.
    Only the synthetic eyes enter the choice (the table's loader reads the real eyes too, unused here)."""
    if labels_dir:
        cfg = RealGazeConfig(labels_dir=str(labels_dir), n_synthetic=n_synthetic, synthetic_draws=draws, seed=seed)
        sets = load_real_gaze_data(cfg).synthetic_sets
        source = f"the real-eye table's synthetic sets (gaze from the training subjects of {labels_dir})"
    else:
        # The table's eye size and crop (RealGazeConfig's defaults), without a labelled folder behind them.
        sets = [synthetic_training_set(n_synthetic, RealGazeConfig.height, RealGazeConfig.width,
                                       seed + DRAW_SEED_STRIDE * d, eye_scale=RealGazeConfig.synthetic_eye_scale)
                for d in range(draws)]
        source = "renderer eyes in the renderer's own gaze range"
    grid = [{"C": float(c), "gamma_scale": float(g)} for c in c_values for g in gamma_scales]
    tables = []
    for d, synthetic in enumerate(sets):
        rows = cross_validated_errors(SVRGaze, grid, to_gaze_input(synthetic["image"]), synthetic["gaze"],
                                      folds=folds, seed=seed)
        tables.append(rows)
        progress(f"synthetic set {d + 1}/{len(sets)}: best {best_setting(rows)}")
    mean_rows = [{**setting, "cv_error_deg": float(np.mean([t[i]["cv_error_deg"] for t in tables]))}
                 for i, setting in enumerate(grid)]
    return {"source": source, "n_synthetic": int(n_synthetic), "folds": int(folds), "per_set": tables,
            "mean": mean_rows, "best_per_set": [best_setting(t) for t in tables], "best": best_setting(mean_rows)}
