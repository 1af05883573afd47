"""A purifier's measured scores on fresh renderer eyes: what a model card states about it.

The same measures as the report (gap share per estimator with bootstrap intervals, pupil shift
with the FCN-independent detector; on real crops, when given, the pupil shift and the KID to
synthetic eyes against the per-eye mean/contrast match), on test eyes whose seed no training stream
uses, so a shipped model's card can be compared with the report's best purifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SCORE_SEED = 5000  # renderer seed offset of the scorecard's eyes
KID_REFERENCE_EYES = 512  # synthetic eyes the real crops' KID is measured against
MATCH_EYES = 64  # other synthetic eyes whose moments the mean/contrast baseline matches


def real_eye_scores(model: Any, real: Any, seed: int = 0) -> dict[str, Any]:
    """Pupil shift raw -> purified on real crops (detector, px at eye width 55), and KID to fresh
    renderer synthetic eyes for raw, the mean/contrast match and the purified crops."""
    import numpy as np

    from purify_tf.data.renderer import render_eyes
    from purify_tf.experiments.common import MEAN_CONTRAST, purify
    from purify_tf.experiments.kid import feature_network
    from purify_tf.experiments.real_eyes import RAW, mean_contrast_match, real_eye_rows

    real = np.asarray(real)
    h, w = real.shape[1:3]
    synthetic = render_eyes(KID_REFERENCE_EYES + MATCH_EYES, h, w, domain="synthetic",
                            seed=seed + SCORE_SEED + 4242)["image"]
    candidates = {MEAN_CONTRAST: mean_contrast_match(real, synthetic[:MATCH_EYES]), "purified": purify(model, real)}
    net = feature_network()
    rows = real_eye_rows(real, candidates, synthetic[MATCH_EYES:], net, seed=seed)
    # The KID's features: ImageNet weights or random ones (no weights on the machine) give other
    # values, so a card says which it used.
    return {"n_real": int(len(real)), "pupil_shift_px": rows["purified"]["pupil"], "kid_features": str(net.weights),
            "kid": {name: round(rows[name]["kid"]["kid"], 4) for name in (RAW, MEAN_CONTRAST, "purified")},
            "kid_vs_mean_contrast": round(rows["purified"]["kid_vs_baseline"], 4)}


def pupil_references(sets: dict[str, Any], shifts: dict[str, Any]) -> dict[str, Any]:
    """What the renderer's pupil shift is to be read against (detector, px at eye width 55).

    Why: raw -> purified is a detector's disagreement between two images, not an error. A perfect
    purifier returns the twin, and the detector's raw -> twin shift is then its score (shadows and
    glints move the darkest blob); the renderer's true centres tell how far the detector is from
    the truth on raw, purified and twin eyes.
    """
    from purify_tf.experiments.pupil import detector_shift

    twin = detector_shift(sets["test_images"], sets["test_twin_images"], true_centres=sets["test_pupil_center"])
    return {"raw_vs_twin": twin["raw_vs_purified"], "truth_vs_twin": twin["truth_vs_purified"],
            "truth_vs_raw": shifts["truth_vs_raw"], "truth_vs_purified": shifts["truth_vs_purified"]}


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
    from purify_tf.gaze.estimators import estimator_settings

    sets = gaze_exp.render_gaze_sets(n_train, n_test, height, width, seed=seed + SCORE_SEED)
    ests = gaze_exp.make_estimators(estimators, seed=seed, n_jobs=2)
    purified = purify(model, sets["test_images"])
    bench = gaze_exp.gaze_benchmark(ests, sets, {"purified": purified}, seed=seed)
    shifts = detector_shift(sets["test_images"], purified, true_centres=sets["test_pupil_center"])
    card: dict[str, Any] = {
        "test_eyes": n_test, "image_size": [height, width],
        "gap_share": {est: {k: round(v, 4) for k, v in by["purified"].items()}
                      for est, by in bench["gap_share"].items()},
        "errors_deg": {est: {k: round(v, 3) for k, v in by.items()} for est, by in bench["errors"].items()},
        "pupil_shift_px_renderer": shifts["raw_vs_purified"],
        "pupil_reference_px_renderer": pupil_references(sets, shifts),
        "estimator_settings": estimator_settings(),
    }
    if real_dir and Path(real_dir).is_dir():
        real_scores = real_eye_scores(model, load_eye_folder(real_dir, height, width), seed)
        card["pupil_shift_px_real"] = real_scores.pop("pupil_shift_px")
        card["real_eyes"] = real_scores
    return card
