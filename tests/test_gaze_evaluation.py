"""Angular-error summaries, cumulative error curves (Fig. 10) and the evaluation table."""

from __future__ import annotations

import numpy as np
import pytest
from gaze_fixtures import toy_eyes

from purify_tf.errors import ConfigError
from purify_tf.gaze.estimators import KNNGaze, make_estimator
from purify_tf.gaze.evaluation import (
    cumulative_error_curve,
    evaluate_estimators,
    mean_angular_error,
    plot_cumulative_curves,
)


def _eyes(n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Toy eyes; ``shift`` brightens them (a crude domain change)."""
    return toy_eyes(n, seed, pitch=0.3, yaw=0.4, base=0.7 + shift, depth=0.5)


def test_mean_angular_error_known_angles():
    a = np.array([[0, 0, -1], [0, 0, -1]], dtype=np.float32)
    b = np.array([[1, 0, 0], [0, 0, -2]], dtype=np.float32)
    assert mean_angular_error(a, b) == pytest.approx(45.0)


def test_cumulative_curve_monotone_bounded_and_complete():
    errors = np.random.default_rng(0).gamma(2.0, 3.0, size=500)
    thr, frac = cumulative_error_curve(errors, max_deg=errors.max() + 1.0, step=0.5)
    assert thr[0] == 0.0 and np.all(np.diff(thr) > 0)
    assert np.all(np.diff(frac) >= 0)
    assert np.all((frac >= 0) & (frac <= 1))
    assert frac[-1] == 1.0  # past the largest error every sample is counted
    thr30, frac30 = cumulative_error_curve(errors)
    assert thr30[-1] == pytest.approx(30.0) and len(thr30) == 61
    assert frac30[np.searchsorted(thr30, 5.0)] == pytest.approx(np.mean(errors <= 5.0))
    _, f_small = cumulative_error_curve(np.array([10.0]), max_deg=5.0)
    assert np.all(f_small == 0.0)
    with pytest.raises(ConfigError):
        cumulative_error_curve(errors, step=0.0)


def test_evaluate_estimators_table_and_plot(tmp_path):
    train_X, train_g = _eyes(200, seed=0)
    test_sets = {"real": _eyes(60, seed=1, shift=0.15), "purified": _eyes(60, seed=1)}
    estimators = [make_estimator("knn", k=5), make_estimator("alr")]
    res = evaluate_estimators(estimators, train_X, train_g, test_sets)

    assert len(res.rows) == 4
    assert {(r["estimator"], r["test_set"]) for r in res.rows} == {
        (e, s) for e in ("knn", "alr") for s in ("real", "purified")
    }
    for r in res.rows:
        assert r["n"] == 60 and r["mean_error_deg"] >= 0 and r["fit_seconds"] >= 0
    table = res.table()
    assert set(table) == {"knn", "alr"} and all(set(v) == set(test_sets) for v in table.values())
    # The "purified" eyes match the training domain, so they are easier.
    for by_set in table.values():
        assert by_set["purified"] < by_set["real"]
    md = res.to_markdown()
    assert md.count("\n") == 3 and "| knn |" in md

    curves = res.curves(max_deg=30, step=1.0)
    assert len(curves) == 4
    out = plot_cumulative_curves(curves, tmp_path / "plots" / "fig10.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Already fitted estimators, given by name, without refitting.
    again = evaluate_estimators(
        {"nn": estimators[0]}, None, None, {"p": test_sets["purified"]}, fit=False
    )
    assert again.rows[0]["estimator"] == "nn" and again.rows[0]["fit_seconds"] == 0.0
    assert again.rows[0]["mean_error_deg"] == pytest.approx(table["knn"]["purified"])


def test_evaluate_estimators_needs_training_data_to_fit():
    with pytest.raises(ConfigError):
        evaluate_estimators([KNNGaze()], None, None, {"x": _eyes(5, 0)})
    with pytest.raises(ConfigError):
        evaluate_estimators([KNNGaze()], *_eyes(5, 0), {})
