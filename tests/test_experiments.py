"""The experiment functions on tiny data: well-formed results, sane values."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from purify_tf.data.renderer import render_eyes
from purify_tf.experiments import common, gaze, objective_curve, pupil, real_eyes, speed
from purify_tf.losses.layers import LOSS_LAYERS
from purify_tf.losses.objective import LossWeights, PurificationObjective
from purify_tf.models.segmentation import build_fcn
from purify_tf.models.transformer import build_transformer
from purify_tf.models.vgg import build_loss_network
from purify_tf.palette import image_grid

H, W = 16, 24


class OracleFCN:
    """Stands in for the FCN: logits that reproduce given label maps (exact pupil centroids)."""

    def __init__(self, masks_by_image: dict[bytes, np.ndarray]):
        self.lookup = masks_by_image

    def __call__(self, x, training=False):
        x = np.asarray(x)
        out = []
        for im in x:
            key = np.clip(np.rint(im[: H, : W]), 0, 255).astype(np.uint8).tobytes()
            m = self.lookup.get(key, np.zeros(im.shape[:2], np.uint8))
            m = np.pad(m, ((0, im.shape[0] - m.shape[0]), (0, im.shape[1] - m.shape[1])))
            out.append(np.eye(3, dtype=np.float32)[m] * 10.0)
        return tf.constant(np.stack(out))


@pytest.fixture(scope="module")
def loss_network():
    return build_loss_network("vgg16", "random", layers=LOSS_LAYERS, seed=0)


@pytest.fixture(scope="module")
def eyes():
    return render_eyes(4, H, W, domain="real", seed=3)


def test_purify_and_grid(eyes):
    model = build_transformer("paper")
    out = common.purify(model, eyes["image"], size=(H, W))
    assert out.shape == eyes["image"].shape and out.dtype == np.uint8
    grid = image_grid([eyes["image"], out], ["a", "b"], max_rows=3, tile_height=20)
    assert grid.ndim == 3 and grid.shape[2] == 3


def test_pupil_centroids_match_truth(eyes):
    fcn = OracleFCN({im.tobytes(): m for im, m in zip(eyes["image"], eyes["mask"], strict=True)})
    c = pupil.pupil_centroids(fcn, eyes["image"])
    has = (eyes["mask"] == 2).any(axis=(1, 2))
    for i in np.flatnonzero(has):
        yy, xx = np.nonzero(eyes["mask"][i] == 2)
        np.testing.assert_allclose(c[i], (xx.mean(), yy.mean()), atol=1e-6)
    res = pupil.pupil_preservation(fcn, eyes["image"], eyes["image"], eyes["pupil_center"])
    assert res["raw_vs_purified"]["mean"] == pytest.approx(0.0)
    assert set(res) >= {"truth_vs_purified", "truth_vs_raw", "raw_vs_purified", "scale"}
    assert res["scale"] == pytest.approx(55 / W)


def test_shift_stats_skips_missing():
    s = pupil.shift_stats(np.array([[0, 0], [np.nan, 1]]), np.array([[3, 4], [0, 0]]), scale=2.0)
    assert s["n"] == 1 and s["mean"] == pytest.approx(10.0)


def test_objective_curves_tiny(eyes, loss_network):
    objective = PurificationObjective(loss_network, LossWeights(alpha=1, beta=1e-6), use_masks=True)
    style = render_eyes(1, H, W, domain="synthetic", seed=7)
    res = objective_curve.objective_curves(
        build_transformer("paper"), objective, eyes["image"][:2], eyes["mask"][:2],
        style["image"][0], style["mask"][0], gatys_iterations=2, init="noise")
    assert res["size"] == [H, W] and len(res["feed_forward"]) == 2
    assert all(len(hst) >= 2 for hst in res["gatys"])
    assert len(res["match_iteration"]) == 2
    assert objective_curve.first_match([5.0, 3.0, 1.0], 2.0) == 2
    assert objective_curve.first_match([5.0], 2.0) is None


def test_plot_objective_curves(tmp_path):
    c = {"size": [8, 8], "gatys_mean_curve": [3.0, 2.0, 1.0], "feed_forward_mean": 1.5, "mean_curve_match": 2}
    path = objective_curve.plot_objective_curves([c], tmp_path / "o.png")
    assert path.stat().st_size > 1000


def test_speed_table_tiny(loss_network, eyes):
    objective = PurificationObjective(loss_network, LossWeights(alpha=1, beta=1e-6), use_masks=False)
    style = render_eyes(1, H, W, domain="synthetic", seed=7)
    targets = objective.style_targets(tf.constant(style["image"], tf.float32))

    def setup(h, w):
        from purify_tf.baselines.gatys import init_image, make_gatys_objective

        img = render_eyes(1, h, w, domain="real", seed=1)["image"][0]
        return make_gatys_objective(objective, img, None, targets), init_image(img, "noise")

    res = speed.speed_table({"paper": build_transformer("paper"), "johnson": build_transformer("johnson")},
                            [(H, W)], setup, gatys_iterations=2, repeats=1)
    row = res["rows"][0]
    assert row["paper"] > 0 and row["johnson"] > 0 and row["gatys"] > 0
    assert row["gatys_over_paper"] == pytest.approx(row["gatys"] / row["paper"])
    assert "johnson_over_paper" in row and res["gatys_scaled_to"] == 400


def test_real_eyes_measures(tmp_path, eyes, loss_network):
    import cv2

    for i, im in enumerate(eyes["image"]):
        cv2.imwrite(str(tmp_path / f"{i}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2GRAY))
    real = real_eyes.load_eye_folder(tmp_path, H, W)
    assert real.shape == (4, H, W, 3)
    synthetic = render_eyes(3, H * 2, W * 2, domain="synthetic", seed=5)["image"]
    res = real_eyes.real_eyes_measures(real, real, synthetic, build_fcn(base_filters=4), loss_network)
    assert res["gram_distance_before"]["mean"] == pytest.approx(res["gram_distance_after"]["mean"])
    assert res["gram_distance_change"] == pytest.approx(0.0, abs=1e-9)
    assert "raw_vs_purified" in res["pupil"]


def test_gaze_experiment_tiny():
    sets = gaze.render_gaze_sets(60, 10, 35, 55, seed=0)
    ests = gaze.make_estimators(["knn", "alr"])
    res = gaze.gaze_experiment(ests, sets["train_X"], sets["train_gaze"], sets["test_gaze"],
                               {"raw": sets["test_images"], "same": sets["test_images"]})
    summary = gaze.summarise(res)
    assert set(summary["table"]) == {"kNN", "ALR"}
    assert summary["table"]["kNN"]["raw"] == pytest.approx(summary["table"]["kNN"]["same"])
    assert len(summary["errors"]["kNN / raw"]) == 10


def test_gaze_sets_carry_synthetic_twins_of_the_test_eyes():
    from purify_tf.data.renderer import render_eyes

    sets = gaze.render_gaze_sets(20, 6, 35, 55, seed=3)
    twin = render_eyes(6, 35, 55, domain="synthetic", seed=5)  # seed + 2: the test eyes' seed
    np.testing.assert_array_equal(sets["test_twin_images"], twin["image"])
    real = render_eyes(6, 35, 55, domain="real", seed=5)
    np.testing.assert_allclose(real["gaze"], twin["gaze"])  # same geometry, other appearance
    assert not np.array_equal(sets["test_images"], sets["test_twin_images"])
    assert sets["in_domain_images"].shape == (6, 35, 55, 3)
