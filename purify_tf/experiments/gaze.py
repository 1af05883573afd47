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

from purify_tf.conventions import GAZE_INPUT_SHAPE
from purify_tf.data.image_io import to_gaze_input
from purify_tf.data.renderer import render_eyes
from purify_tf.gaze.evaluation import (
    EvaluationResults,
    bootstrap_difference,
    bootstrap_gap,
    evaluate_estimators,
)
from purify_tf.hyperparameters import DEFAULT_PIXEL_NORM

DISPLAY_NAMES = {"cnn": "CNN", "knn": "kNN", "svr": "SVR", "rf": "RF", "alr": "ALR"}


def make_estimators(
    names: Sequence[str], cnn_epochs: int = 30, cnn_batch_size: int = 512, seed: int = 0,
    n_jobs: int | None = None, pixel_norm: str = DEFAULT_PIXEL_NORM,
) -> dict[str, Any]:
    """Estimators by name (cnn, knn, svr, rf, alr), keyed by the paper's display names;
    ``pixel_norm`` is the classical ones' pixel normalisation (``gaze.estimators``)."""
    from purify_tf.gaze.estimators import make_estimator

    out: dict[str, Any] = {}
    for name in names:
        key = name.lower().strip()
        if key == "cnn":
            from purify_tf.gaze.cnn import CNNGaze

            out["CNN"] = CNNGaze(epochs=cnn_epochs, batch_size=cnn_batch_size, seed=seed)
        elif key in ("knn", "rf"):
            out[DISPLAY_NAMES[key]] = make_estimator(key, n_jobs=n_jobs, seed=seed, pixel_norm=pixel_norm)
        else:
            out[DISPLAY_NAMES.get(key, key)] = make_estimator(key, seed=seed, pixel_norm=pixel_norm)
    return out


def render_gaze_sets(
    n_train: int, n_test: int, height: int, width: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Synthetic training eyes, real-domain test eyes and their synthetic twins, rendered at H x W.

    The twins share each test eye's seed and so its geometry (gaze, lids, iris, pupil) and
    differ only in appearance: they are the ideal purification, the ceiling of what a purifier
    can gain. ``in_domain_images`` are further synthetic eyes (disjoint seed) for the estimators'
    in-domain error. Returns ``train_X`` (35x55 gaze input), ``train_gaze``, ``test_images``
    uint8 (for purification), ``test_twin_images``, ``test_gaze``, ``test_pupil_center``,
    ``test_mask``, ``in_domain_images``, ``in_domain_gaze``.
    """
    train = render_eyes(n_train, height, width, domain="synthetic", seed=seed + 1)
    test = render_eyes(n_test, height, width, domain="real", seed=seed + 2)
    twin = render_eyes(n_test, height, width, domain="synthetic", seed=seed + 2)
    in_domain = render_eyes(n_test, height, width, domain="synthetic", seed=seed + 3)
    return {
        "train_X": to_gaze_input(train["image"]),
        "train_gaze": train["gaze"],
        "test_images": test["image"],
        "test_twin_images": twin["image"],
        "test_gaze": test["gaze"],
        "test_pupil_center": test["pupil_center"],
        "test_mask": test["mask"],
        "in_domain_images": in_domain["image"],
        "in_domain_gaze": in_domain["gaze"],
    }


RAW, TWIN, IN_DOMAIN = "raw", "twin", "in_domain"


def gap_shares(results: EvaluationResults, purified: Sequence[str], n_boot: int = 2000,
               seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """{estimator: {purifier: bootstrap_gap(...)}}: the share of the raw -> twin gap each purifier
    closes, with 95% paired-bootstrap intervals over test eyes (test sets named RAW, TWIN and
    one per purifier)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    estimators = list(dict.fromkeys(est for est, _ in results.errors))
    for est in estimators:
        raw, twin = results.errors[(est, RAW)], results.errors[(est, TWIN)]
        out[est] = {name: bootstrap_gap(raw, twin, results.errors[(est, name)], n_boot=n_boot, seed=seed)
                    for name in purified}
    return out


def differences_to(results: EvaluationResults, purified: Sequence[str], reference: str, n_boot: int = 2000,
                   seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """{estimator: {purifier: bootstrap_difference(...)}}: each purifier's gap share minus that of
    ``reference`` (and its mean error minus the reference's), paired over the same test eyes."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for est in dict.fromkeys(est for est, _ in results.errors):
        raw, twin, ref = (results.errors[(est, s)] for s in (RAW, TWIN, reference))
        out[est] = {name: bootstrap_difference(raw, twin, results.errors[(est, name)], ref, n_boot=n_boot, seed=seed)
                    for name in purified if name != reference}
    return out


def gaze_benchmark(
    estimators: Mapping[str, Any], sets: Mapping[str, np.ndarray], purified: Mapping[str, np.ndarray],
    n_boot: int = 2000, seed: int = 0, fit: bool = True, reference: str | None = None,
) -> dict[str, Any]:
    """The task metric: every estimator on in-domain synthetic, raw real, twin and purified eyes.

    Returns the JSON block of ``results.json["gaze"]``: ``errors[est][set]`` (mean degrees; sets
    ``in_domain``, ``raw``, ``twin`` and one per purifier), ``gap_share[est][purifier]`` (with
    ``gap_share_lo/hi`` and ``delta_deg`` with ``delta_lo/hi``), ``per_eye`` errors for Fig. 10,
    and ``n_test``. ``fit=False`` uses estimators already fitted on ``sets["train_X"]``. With
    ``reference`` (one of ``purified``), ``vs_reference`` holds :func:`differences_to` it.
    """
    test_sets = {RAW: sets["test_images"], TWIN: sets["test_twin_images"], **purified}
    res = gaze_experiment(estimators, sets["train_X"], sets["train_gaze"], sets["test_gaze"], test_sets, fit=fit)
    in_dom = evaluate_estimators(estimators, None, None,
                                 {IN_DOMAIN: (to_gaze_input(sets["in_domain_images"]), sets["in_domain_gaze"])},
                                 fit=False)
    errors: dict[str, dict[str, float]] = {}
    for row in in_dom.rows + res.rows:
        errors.setdefault(row["estimator"], {})[row["test_set"]] = row["mean_error_deg"]
    out = {
        "errors": errors,
        "gap_share": gap_shares(res, list(purified), n_boot=n_boot, seed=seed),
        "per_eye": {f"{est} / {ts}": [round(float(e), 4) for e in err] for (est, ts), err in res.errors.items()},
        "rows": res.rows,
        "n_test": int(len(sets["test_gaze"])),
        "n_train": int(len(sets["train_gaze"])),
    }
    if reference is not None and reference in purified:
        out["vs_reference"] = {"reference": reference,
                               "by_estimator": differences_to(res, list(purified), reference, n_boot, seed)}
    return out


def gaze_experiment(
    estimators: Mapping[str, Any],
    train_X: np.ndarray,
    train_gaze: np.ndarray,
    test_gaze: np.ndarray,
    test_sets: Mapping[str, np.ndarray],
    fit: bool = True,
) -> EvaluationResults:
    """Fit each estimator once on the synthetic eyes; mean angular error on every test set.

    ``test_sets`` maps a name ("raw", "purified (paper)", ...) to images of the same eyes, in any
    form ``to_gaze_input`` takes; all share ``test_gaze``.
    """
    sets = {name: (to_gaze_input(x) if np.ndim(x) != 4 or np.shape(x)[1:] != GAZE_INPUT_SHAPE else x,
                   test_gaze) for name, x in test_sets.items()}
    return evaluate_estimators(estimators, train_X, train_gaze, sets, fit=fit)


def summarise(results: EvaluationResults, max_deg: float = 30.0) -> dict[str, Any]:
    """JSON-friendly summary: the Table 3 dict, rows, and per-sample errors for Fig. 10."""
    return {
        "table": results.table(),
        "rows": results.rows,
        "errors": {f"{est} / {ts}": [float(e) for e in err] for (est, ts), err in results.errors.items()},
        "max_deg": max_deg,
    }
