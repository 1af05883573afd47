"""The task metric: share of the raw -> twin gap closed, its bootstrap interval, the gaze benchmark
and the FCN-independent pupil detector."""

from __future__ import annotations

import numpy as np
import pytest

from purify_tf.errors import DataError
from purify_tf.experiments.gaze import IN_DOMAIN, RAW, TWIN, gaze_benchmark
from purify_tf.experiments.pupil import darkest_blob_centres, detector_shift
from purify_tf.gaze.evaluation import (
    bootstrap_delta,
    bootstrap_difference,
    bootstrap_gap,
    gap_share,
)


def test_gap_share_values():
    raw, twin = np.full(10, 10.0), np.full(10, 6.0)
    assert gap_share(raw, twin, np.full(10, 8.0)) == pytest.approx(0.5)
    assert gap_share(raw, twin, twin) == pytest.approx(1.0)
    assert gap_share(raw, twin, np.full(10, 12.0)) == pytest.approx(-0.5)
    assert np.isnan(gap_share(raw, raw, twin))


def test_bootstrap_interval_brackets_the_estimate_and_shrinks_with_more_eyes():
    rng = np.random.default_rng(0)

    def draw(n):
        raw = rng.gamma(4.0, 2.5, n)
        twin = raw * 0.6
        pur = raw * 0.8 + rng.normal(0, 1.0, n)
        return bootstrap_gap(raw, twin, pur, n_boot=500, seed=1)

    small, big = draw(100), draw(2000)
    for g in (small, big):
        assert g["gap_share_lo"] <= g["gap_share"] <= g["gap_share_hi"]
        assert g["delta_lo"] <= g["delta_deg"] <= g["delta_hi"] < 0
        assert 0.3 < g["gap_share"] < 0.7
    assert big["gap_share_hi"] - big["gap_share_lo"] < small["gap_share_hi"] - small["gap_share_lo"]
    with pytest.raises(DataError, match="equal"):
        bootstrap_gap(np.ones(3), np.ones(4), np.ones(3))


def test_bootstrap_difference_against_a_numpy_reference():
    """Share difference = share(a) - share(b) with the same resampled eyes for all four arrays."""
    rng = np.random.default_rng(2)
    n = 300
    raw = rng.gamma(4.0, 2.5, n)
    twin = raw * 0.6
    a = raw * 0.7 + rng.normal(0, 0.5, n)
    b = raw * 0.8 + rng.normal(0, 0.5, n)
    d = bootstrap_difference(raw, twin, a, b, n_boot=400, seed=3)
    assert d["share_diff"] == pytest.approx(gap_share(raw, twin, a) - gap_share(raw, twin, b))
    assert d["deg_diff"] == pytest.approx(a.mean() - b.mean())
    # the reference: an explicit loop over draws, each draw's indices shared by the four arrays
    idx = np.random.default_rng(3).integers(0, n, size=(400, n))
    ref = [gap_share(raw[i], twin[i], a[i]) - gap_share(raw[i], twin[i], b[i]) for i in idx]
    assert d["share_diff_lo"] == pytest.approx(np.percentile(ref, 2.5))
    assert d["share_diff_hi"] == pytest.approx(np.percentile(ref, 97.5))
    assert 0 < d["share_diff_lo"] < d["share_diff"] < d["share_diff_hi"]
    assert d["deg_diff_hi"] < 0
    # paired: a purifier against itself differs by exactly zero on every draw
    same = bootstrap_difference(raw, twin, a, a, n_boot=50)
    assert same["share_diff_lo"] == same["share_diff_hi"] == 0.0
    with pytest.raises(DataError, match="equal"):
        bootstrap_difference(np.ones(3), np.ones(3), np.ones(3), np.ones(4))


def test_bootstrap_delta_against_a_numpy_reference():
    """A row against a reference (e.g. predicting the mean gaze): the same eyes resampled for both."""
    rng = np.random.default_rng(5)
    n = 250
    reference = rng.gamma(4.0, 2.5, n)
    errors = reference - 0.3 + rng.normal(0, 1.0, n)
    d = bootstrap_delta(reference, errors, n_boot=300, seed=4)
    assert d["delta_deg"] == pytest.approx(errors.mean() - reference.mean())
    idx = np.random.default_rng(4).integers(0, n, size=(300, n))
    ref = [errors[i].mean() - reference[i].mean() for i in idx]
    assert d["delta_lo"] == pytest.approx(np.percentile(ref, 2.5))
    assert d["delta_hi"] == pytest.approx(np.percentile(ref, 97.5))
    assert d["delta_lo"] < d["delta_deg"] < d["delta_hi"] < 0
    # Paired: a constant difference has no spread however different the eyes are.
    shifted = bootstrap_delta(reference, reference + 0.5, n_boot=50)
    assert shifted["delta_lo"] == pytest.approx(0.5) and shifted["delta_hi"] == pytest.approx(0.5)
    with pytest.raises(DataError, match="equal"):
        bootstrap_delta(np.ones(3), np.ones(4))


class _Offset:
    """A fake estimator: predicts the gaze it was given, spoiled by the image's mean brightness."""

    name = "fake"

    def fit(self, X, gaze):
        return self

    def predict(self, X):
        b = np.asarray(X).reshape(len(X), -1).mean(1)
        v = np.stack([b, np.zeros_like(b), -np.ones_like(b)], 1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_gaze_benchmark_keys_and_shares():
    n = 40
    dark = np.full((n, 35, 55, 3), 60, np.uint8)
    bright = np.full((n, 35, 55, 3), 200, np.uint8)
    sets = {"train_X": np.zeros((4, 35, 55, 1), np.float32), "train_gaze": np.tile([0, 0, -1.0], (4, 1)),
            "test_images": bright, "test_twin_images": dark, "test_gaze": np.tile([0, 0, -1.0], (n, 1)),
            "in_domain_images": dark, "in_domain_gaze": np.tile([0, 0, -1.0], (n, 1))}
    halfway = np.full((n, 35, 55, 3), 130, np.uint8)
    out = gaze_benchmark({"fake": _Offset()}, sets, {"half": halfway, "none": bright}, n_boot=50, reference="none")
    assert set(out["errors"]["fake"]) == {IN_DOMAIN, RAW, TWIN, "half", "none"}
    assert out["gap_share"]["fake"]["none"]["gap_share"] == pytest.approx(0.0)
    assert 0.3 < out["gap_share"]["fake"]["half"]["gap_share"] < 0.7
    assert out["n_test"] == n and len(out["per_eye"]["fake / half"]) == n
    vs = out["vs_reference"]
    assert vs["reference"] == "none" and set(vs["by_estimator"]["fake"]) == {"half"}
    assert vs["by_estimator"]["fake"]["half"]["share_diff"] == pytest.approx(
        out["gap_share"]["fake"]["half"]["gap_share"])


def _eye(cx: float, cy: float, shadow: bool) -> np.ndarray:
    yy, xx = np.mgrid[0:36, 0:60].astype(np.float32)
    img = np.full((36, 60), 200.0, np.float32)
    img[np.hypot(xx - cx, yy - cy) < 7] = 110.0  # iris
    img[np.hypot(xx - cx, yy - cy) < 3] = 25.0  # pupil
    if shadow:
        img[:, :20] *= 0.3  # a dark shadow band, darker on average than the pupil's surroundings
    return np.repeat(img[..., None], 3, axis=-1)


def test_darkest_blob_detector_finds_the_pupil_not_the_shadow():
    eyes = np.stack([_eye(38.3, 17.6, False), _eye(38.3, 17.6, True), _eye(30.0, 15.0, True)]).astype(np.uint8)
    centres = darkest_blob_centres(eyes)
    np.testing.assert_allclose(centres[0], (38.3, 17.6), atol=0.6)
    np.testing.assert_allclose(centres[1], (38.3, 17.6), atol=0.6)
    np.testing.assert_allclose(centres[2], (30.0, 15.0), atol=0.6)
    moved = detector_shift(eyes[:2], np.stack([eyes[0], eyes[2]]))
    assert moved["raw_vs_purified"]["median"] > 0 and moved["scale"] == pytest.approx(55 / 60)
