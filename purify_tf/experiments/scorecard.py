"""A purifier's measured scores on fresh renderer eyes: what a model card states about it.

The same measures as the report (gap share per estimator with bootstrap intervals, pupil shift
with the FCN-independent detector), on test eyes whose seed no training stream uses, so a
shipped model's card can be compared with the report's best purifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SCORE_SEED = 5000  # renderer seed offset of the scorecard's eyes


def score_purifier(
    model: Any, height: int, width: int, n_test: int = 600, n_train: int = 2000,
    estimators: Sequence[str] = ("knn", "svr", "rf", "alr"), real_dir: str | None = None, seed: int = 0,
) -> dict[str, Any]:
    """Gap share per estimator and pupil shifts (renderer; real crops when ``real_dir`` exists)."""
    from pathlib import Path

    from purify_tf.experiments import gaze as gaze_exp
    from purify_tf.experiments.common import purify
    from purify_tf.experiments.pupil import detector_shift
    from purify_tf.experiments.real_eyes import load_eye_folder

    sets = gaze_exp.render_gaze_sets(n_train, n_test, height, width, seed=seed + SCORE_SEED)
    ests = gaze_exp.make_estimators(estimators, seed=seed, n_jobs=2)
    purified = purify(model, sets["test_images"])
    bench = gaze_exp.gaze_benchmark(ests, sets, {"purified": purified}, seed=seed)
    card: dict[str, Any] = {
        "test_eyes": n_test, "image_size": [height, width],
        "gap_share": {est: {k: round(v, 4) for k, v in by["purified"].items()}
                      for est, by in bench["gap_share"].items()},
        "errors_deg": {est: {k: round(v, 3) for k, v in by.items()} for est, by in bench["errors"].items()},
        "pupil_shift_px_renderer": detector_shift(sets["test_images"], purified)["raw_vs_purified"],
    }
    if real_dir and Path(real_dir).is_dir():
        real = load_eye_folder(real_dir, height, width)
        card["pupil_shift_px_real"] = detector_shift(real, purify(model, real))["raw_vs_purified"]
    return card
