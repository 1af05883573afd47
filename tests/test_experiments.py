"""The experiment functions on tiny data: well-formed results, sane values."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from purify_tf.data.renderer import render_eyes
from purify_tf.experiments import (
    common,
    gaze,
    kid,
    objective_curve,
    pupil,
    real_eyes,
    report_tables,
    speed,
)
from purify_tf.losses.layers import LOSS_LAYERS
from purify_tf.losses.objective import LossWeights, PurificationObjective
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


def test_purify_is_the_identity_for_a_residual_transformer_at_init(eyes):
    """A residual f_W starts as the identity: purifying at the eyes' own size returns them unchanged
    (any size: ``apply_padded`` pads and crops back); an absolute f_W keeps shape and dtype."""
    out = common.purify(build_transformer("paper", residual=True), eyes["image"], size=(H, W), batch_size=3)
    np.testing.assert_array_equal(out, eyes["image"])
    odd = common.purify(build_transformer("paper", residual=True), eyes["image"][:, :15, :21])
    np.testing.assert_array_equal(odd, eyes["image"][:, :15, :21])
    out = common.purify(build_transformer("paper"), eyes["image"], size=(H, W))
    assert out.shape == eyes["image"].shape and out.dtype == np.uint8


def test_grid_places_each_column_and_row_at_its_tile(eyes):
    other = 255 - eyes["image"]
    grid = image_grid([eyes["image"], other], ["a", "b"], max_rows=3, tile_height=None, gap=4)
    header = 18
    assert grid.shape == (header + 3 * (H + 4), 3 * 4 + 2 * W, 3)
    for i in range(3):
        y = header + i * (H + 4)
        np.testing.assert_array_equal(grid[y : y + H, 4 : 4 + W], eyes["image"][i])
        np.testing.assert_array_equal(grid[y : y + H, 8 + W : 8 + 2 * W], other[i])


def test_load_purifier_goes_through_model_io(tmp_path, eyes):
    """The model file loads with the same outputs, the card's training size comes back, and a
    missing or damaged file is a ConfigError naming it (``model_io.load_keras_model``'s rules)."""
    import json

    from purify_tf.errors import ConfigError

    model = build_transformer("paper", residual=True)
    path = tmp_path / "purifier.keras"
    model.save(path)
    loaded, size = common.load_purifier(path)
    assert size is None  # no card
    x = tf.constant(eyes["image"], tf.float32)
    np.testing.assert_allclose(loaded(x, training=False), model(x, training=False), atol=1e-4)
    path.with_suffix(".json").write_text(json.dumps({"image_size": [H, W]}))
    assert common.load_purifier(path)[1] == (H, W)
    with pytest.raises(ConfigError, match="missing.keras.*does not exist"):
        common.load_purifier(tmp_path / "missing.keras")
    (tmp_path / "bad.keras").write_bytes(b"not a zip archive")
    with pytest.raises(ConfigError, match="bad.keras"):
        common.load_purifier(tmp_path / "bad.keras")


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


def test_detector_agreement_is_the_distance_between_the_two_centres():
    """A dark disc at x = 8 and an FCN that labels the pupil 3 px to its right: they disagree by
    3 px (times the scale to eye width 55); where the FCN labels the disc itself, by ~0."""
    yy, xx = np.mgrid[0:H, 0:W]
    image = np.full((H, W, 3), 200, np.uint8)
    image[(xx - 8) ** 2 + (yy - 8) ** 2 <= 9] = 20
    shifted = np.where((xx - 11) ** 2 + (yy - 8) ** 2 <= 9, 2, 0).astype(np.uint8)
    on_disc = np.where((xx - 8) ** 2 + (yy - 8) ** 2 <= 9, 2, 0).astype(np.uint8)
    far = pupil.detector_agreement(OracleFCN({image.tobytes(): shifted}), image[None])
    near = pupil.detector_agreement(OracleFCN({image.tobytes(): on_disc}), image[None])
    assert far["n"] == 1 and far["mean"] == pytest.approx(3 * 55 / W, abs=0.3)
    assert near["mean"] < 0.3


def test_clear_pupil_shift_counts_only_eyes_whose_raw_pupil_both_detectors_agree_on():
    """Two raw eyes with the same dark disc; the FCN labels it on the first and 6 px off on the
    second (the raw detection is not trusted there). Both discs move 4 px: only the first counts."""
    yy, xx = np.mgrid[0:H, 0:W]

    def disc(x0: int) -> np.ndarray:
        return (xx - x0) ** 2 + (yy - 8) ** 2 <= 9

    def eye(x0: int, shade: int) -> np.ndarray:
        image = np.full((H, W, 3), shade, np.uint8)
        image[disc(x0)] = 20
        return image

    raw = np.stack([eye(8, 200), eye(8, 190)])
    moved = np.stack([eye(12, 200), eye(12, 190)])
    fcn = OracleFCN({raw[0].tobytes(): np.where(disc(8), 2, 0).astype(np.uint8),
                     raw[1].tobytes(): np.where(disc(14), 2, 0).astype(np.uint8)})
    out = pupil.clear_pupil_shift(fcn, raw, {"moved": moved, "same": raw.copy()})
    assert out["moved"]["n"] == 1 and out["moved"]["mean"] == pytest.approx(4 * 55 / W, abs=0.3)
    assert out["same"]["n"] == 1 and out["same"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert pupil.detector_shift(raw, moved)["raw_vs_purified"]["n"] == 2  # the plain shift counts both


def test_shift_stats_skips_missing():
    s = pupil.shift_stats(np.array([[0, 0], [np.nan, 1]]), np.array([[3, 4], [0, 0]]), scale=2.0)
    assert s["n"] == 1 and s["mean"] == pytest.approx(10.0)
    assert (s["dx"], s["dy"]) == (pytest.approx(6.0), pytest.approx(8.0))


def test_shift_stats_signed_move_against_numpy():
    """The signed mean move: pupils all moved right and up by different amounts, against NumPy."""
    rng = np.random.default_rng(1)
    a = rng.uniform(10, 40, (50, 2))
    move = np.column_stack([rng.normal(0.3, 0.2, 50), rng.normal(-0.4, 0.2, 50)])
    s = pupil.shift_stats(a, a + move, scale=0.5)
    assert s["dx"] == pytest.approx(0.5 * move[:, 0].mean()) and s["dy"] == pytest.approx(0.5 * move[:, 1].mean())
    assert s["dx_se"] == pytest.approx(0.5 * move[:, 0].std() / np.sqrt(50))
    assert s["mean"] == pytest.approx(0.5 * np.linalg.norm(move, axis=1).mean())
    assert s["dx_median"] == pytest.approx(0.5 * np.median(move[:, 0]))
    assert s["dy_median"] == pytest.approx(0.5 * np.median(move[:, 1]))
    # One detector jump moves the mean, not the median.
    jumped = move.copy()
    jumped[0] = (40.0, 0.0)
    j = pupil.shift_stats(a, a + jumped)
    assert j["dx"] > move[:, 0].mean() + 0.5 and abs(j["dx_median"] - np.median(move[:, 0])) < 0.05
    # Moves that cancel: a distance, no signed move.
    sym = pupil.shift_stats(np.zeros((2, 2)), np.array([[1.0, 0.0], [-1.0, 0.0]]))
    assert sym["mean"] == 1.0 and sym["dx"] == 0.0 and pupil.shift_stats(np.full((1, 2), np.nan), np.zeros((1, 2)))["n"] == 0


def test_objective_curves_score_f_w_on_the_objective_gatys_minimises(eyes, loss_network):
    """Fig. 8's feed-forward value is the objective of f_W's output: for an f_W that is the identity
    (a residual transformer at init) that is the objective of the content against itself; each
    match is the first Gatys iteration at or below it, and L-BFGS-B never ends above its start."""
    objective = PurificationObjective(loss_network, LossWeights(alpha=1, beta=1e-6), use_masks=True)
    style = render_eyes(1, H, W, domain="synthetic", seed=7)
    res = objective_curve.objective_curves(
        build_transformer("paper", residual=True), objective, eyes["image"][:2], eyes["mask"][:2],
        style["image"][0], style["mask"][0], gatys_iterations=2, init="noise")
    assert res["size"] == [H, W] and len(res["feed_forward"]) == 2
    targets = objective.style_targets(tf.constant(style["image"], tf.float32), tf.constant(style["mask"].astype(np.int32)))
    for i in range(2):
        x = tf.constant(eyes["image"][i : i + 1], tf.float32)
        want = float(objective(x, x, tf.constant(eyes["mask"][i : i + 1].astype(np.int32)), targets)["total"])
        assert res["feed_forward"][i] == pytest.approx(want, rel=1e-4)
        history = res["gatys"][i]
        assert len(history) >= 2 and history[-1] <= history[0]
        assert res["match_iteration"][i] == objective_curve.first_match(history, res["feed_forward"][i])
    length = min(len(h) for h in res["gatys"])
    np.testing.assert_allclose(res["gatys_mean_curve"], np.mean([h[:length] for h in res["gatys"]], axis=0))
    assert res["feed_forward_mean"] == pytest.approx(np.mean(res["feed_forward"]))
    assert objective_curve.first_match([5.0, 3.0, 1.0], 2.0) == 2
    assert objective_curve.first_match([5.0], 2.0) is None


def test_objective_curves_with_the_paired_term_score_it_against_each_eyes_twin(eyes, loss_network):
    """Fig. 8 on a row trained with the paired term: f_W's value and Gatys's objective both hold
    ``paired * l_pair`` against each eye's twin; of_one_image keeps it and names the critic and
    identity terms it leaves out."""
    from purify_tf.losses.objective import DomainWeights

    trained = PurificationObjective(loss_network, LossWeights(alpha=1, beta=1e-6), use_masks=True,
                                    domain=DomainWeights(adversarial=1.0, identity=2.0, paired=10.0))
    objective, left_out = trained.of_one_image()
    assert set(left_out) == {"adversarial", "identity"} and objective.domain.active() == ("paired",)
    assert [t.role for t in objective.terms()][-1] == "paired" and objective.terms()[-1].weight == 10.0
    style = render_eyes(1, H, W, domain="synthetic", seed=7)
    twins = render_eyes(2, H, W, domain="synthetic", seed=3)["image"]
    res = objective_curve.objective_curves(
        build_transformer("paper", residual=True), objective, eyes["image"][:2], eyes["mask"][:2],
        style["image"][0], style["mask"][0], gatys_iterations=1, init="content", twins=twins)
    targets = objective.style_targets(tf.constant(style["image"], tf.float32), tf.constant(style["mask"].astype(np.int32)))
    for i in range(2):
        x = tf.constant(eyes["image"][i : i + 1], tf.float32)
        terms = objective(x, x, tf.constant(eyes["mask"][i : i + 1].astype(np.int32)), targets,
                          paired=(x, objective.paired_targets(tf.constant(twins[i : i + 1], tf.float32))))
        assert float(terms["paired"]) > 0
        assert res["feed_forward"][i] == pytest.approx(float(terms["total"]), rel=1e-4)
        assert float(terms["total"]) == pytest.approx(float(terms["perceptual"]) + 10 * float(terms["paired"]), rel=1e-5)
        assert res["gatys"][i][0] == pytest.approx(res["feed_forward"][i], rel=1e-3)  # Gatys starts at the content


def test_plot_objective_curves_draws_one_panel_per_size(tmp_path):
    import cv2

    c = {"size": [8, 8], "gatys_mean_curve": [3.0, 2.0, 1.0], "feed_forward_mean": 1.5, "mean_curve_match": 2}
    one = cv2.imread(str(objective_curve.plot_objective_curves([c], tmp_path / "o.png")))
    two = cv2.imread(str(objective_curve.plot_objective_curves([c, {**c, "size": [16, 16]}], tmp_path / "t.png")))
    assert one.shape == (360, 420, 3) and two.shape == (360, 840, 3)  # 4.2 x 3.6 in per panel at 100 dpi
    assert one.std() > 0  # something is drawn


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


def _mmd2_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, by explicit loops over pairs."""
    d = x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_against_a_numpy_reference():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, (7, 5)), rng.normal(0.5, 1.2, (9, 5))
    assert kid.mmd2_unbiased(x, y) == pytest.approx(_mmd2_reference(x, y), rel=1e-10)
    # subsets: the same draws by hand
    res = kid.kid(x, y, n_subsets=4, subset_size=5, seed=3)
    draw = np.random.default_rng(3)
    ref = [_mmd2_reference(x[draw.choice(7, 5, replace=False)], y[draw.choice(9, 5, replace=False)])
           for _ in range(4)]
    assert res["kid"] == pytest.approx(np.mean(ref)) and res["std"] == pytest.approx(np.std(ref))
    assert res["subset_size"] == 5 and (res["n_a"], res["n_b"]) == (7, 9)
    # unbiased: near zero for two samples of one distribution, clearly positive for shifted ones
    a, b = rng.normal(0, 1, (400, 5)), rng.normal(0, 1, (400, 5))
    assert abs(kid.kid(a, b, 5, 200)["kid"]) < 0.2 * kid.kid(a, b + 1.0, 5, 200)["kid"]
    with pytest.raises(ValueError, match="2 samples"):
        kid.mmd2_unbiased(x[:1], y)


def test_mean_contrast_match_sets_each_eye_to_the_reference_moments():
    rng = np.random.default_rng(1)
    images = rng.integers(20, 120, (5, 12, 16, 3)).astype(np.uint8)
    reference = rng.integers(80, 240, (7, 12, 16, 3)).astype(np.uint8)
    out = real_eyes.mean_contrast_match(images, reference).astype(np.float64)
    ref = reference.astype(np.float64)
    mu = np.array([ref[..., c].reshape(7, -1).mean(1).mean() for c in range(3)])
    sd = np.array([ref[..., c].reshape(7, -1).std(1).mean() for c in range(3)])
    for im in out:
        np.testing.assert_allclose(im.reshape(-1, 3).mean(0), mu, atol=0.6)
        np.testing.assert_allclose(im.reshape(-1, 3).std(0), sd, atol=0.6)


def test_real_eye_rows(tmp_path, eyes, loss_network):
    import cv2

    for i, im in enumerate(eyes["image"]):
        cv2.imwrite(str(tmp_path / f"{i}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2GRAY))
    real = real_eyes.load_eye_folder(tmp_path, H, W)
    assert real.shape == (4, H, W, 3)
    synthetic = render_eyes(6, H * 2, W * 2, domain="synthetic", seed=5)["image"]
    net = kid.feature_network(loss_network)
    assert net is loss_network  # a VGG16 that taps both KID layers is reused
    base = real_eyes.mean_contrast_match(real, synthetic)
    fcn = OracleFCN({im.tobytes(): m for im, m in zip(real, eyes["mask"], strict=True)})
    rows = real_eyes.real_eye_rows(real, {real_eyes.MEAN_CONTRAST: base, "same": real.copy()}, synthetic, net,
                                   n_subsets=3, subset_size=4, fcn=fcn)
    assert list(rows) == ["raw", real_eyes.MEAN_CONTRAST, "same"]
    # The same eyes: the same disagreement between the FCN and the detector, for every row that has it.
    assert rows["same"]["pupil_agreement"] == rows["raw"]["pupil_agreement"]
    assert "pupil_agreement" in rows[real_eyes.MEAN_CONTRAST]
    # The oracle FCN's pupils are the true ones: the same eyes do not move where the raw pupil is clear.
    assert "pupil_clear" not in rows["raw"]
    if rows["same"]["pupil_clear"]["n"]:
        assert rows["same"]["pupil_clear"]["mean"] == pytest.approx(0.0)
    table = report_tables.real_eyes_table({"rows": rows})
    assert "detector disagreement, real crops (px)" in table and "with a clear raw pupil" in table
    assert all(line.count("|") == 9 for line in table.splitlines() if line.startswith("|"))
    assert rows["same"]["kid"]["kid"] == pytest.approx(rows["raw"]["kid"]["kid"])
    assert rows["same"]["pupil"]["mean"] == 0.0 and "pupil" not in rows["raw"]
    base = rows[real_eyes.MEAN_CONTRAST]["kid"]["kid"]
    if base > 0:  # an unbiased estimate on 4 eyes may be <= 0: then no ratio is defined
        assert rows[real_eyes.MEAN_CONTRAST]["kid_vs_baseline"] == pytest.approx(0.0)
        assert rows["same"]["kid_vs_baseline"] == pytest.approx(rows["same"]["kid"]["kid"] / base - 1)
    else:
        assert np.isnan(rows["same"]["kid_vs_baseline"])
    assert set(rows["raw"]["kid_per_layer"]) == set(kid.KID_LAYERS)
    feats = kid.pooled_features(net, real)
    scales = kid.reference_scales(feats)
    both = kid.kid_features(feats, scales)
    assert both.shape == (4, 256 + 512)
    # each block in units of its reference RMS
    np.testing.assert_allclose(np.sqrt(np.mean(both[:, :256] ** 2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.mean(both[:, 256:] ** 2)), 1.0, rtol=1e-6)


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


def test_gatys_iterations_fall_with_the_pixel_count_above_the_cap():
    assert speed.gatys_iterations_at(512, 512, 3, 512 * 512) == 3
    assert speed.gatys_iterations_at(256, 256, 3, 512 * 512) == 3
    assert speed.gatys_iterations_at(1024, 1024, 3, 512 * 512) == 1
    assert speed.gatys_iterations_at(724, 724, 8, 512 * 512) == 4
    assert speed.gatys_iterations_at(1024, 1024, 3, None) == 3


def test_variants_set_only_their_terms():
    from purify_tf.experiments.purifiers import VARIANTS

    def terms(name: str) -> tuple[float, float, float]:
        v = VARIANTS[name]
        return v.adversarial, v.identity, v.paired

    assert terms("front_end") == (0.0, 0.0, 0.0)
    assert terms("critic") == (1.0, 0.0, 0.0)
    assert terms("critic_identity") == (1.0, 1.0, 0.0)
    assert terms("paired") == (0.0, 0.0, 1.0)
    assert terms("paired_critic") == (1.0, 0.0, 1.0)
    assert terms("paired_strong") == (0.0, 0.0, 10.0)
    assert terms("paired_only") == (0.0, 0.0, 1.0) and not VARIANTS["paired_only"].perceptual
    for name in ("critic", "critic_identity", "paired", "paired_critic", "paired_strong", "paired_only"):
        assert VARIANTS[name].illumination and VARIANTS[name].style_source == "renderer"
    assert all(v.perceptual for name, v in VARIANTS.items() if name != "paired_only")
    assert VARIANTS["critic_identity_raw"].raw_beside and terms("critic_identity_raw") == (1.0, 1.0, 0.0)
    assert VARIANTS["paired_structure"].paired_target == "structure" and terms("paired_structure") == (0.0, 0.0, 10.0)
    assert sum(v.raw_beside for v in VARIANTS.values()) == 1
    assert all(v.paired_target == "twin" for name, v in VARIANTS.items() if name != "paired_structure")
    # Gaze consistency only in its own row, at the shipped weight, beside the shipped paired term.
    from purify_tf.hyperparameters import SHIPPED

    assert [n for n, v in VARIANTS.items() if v.gaze > 0] == ["paired_gaze"]
    assert terms("paired_gaze") == (0.0, 0.0, SHIPPED.paired) and VARIANTS["paired_gaze"].gaze == SHIPPED.gaze
    # The shipped configuration's taps (style from blocks 1-3, local content at block3_conv3) in its row only;
    # every other row keeps the paper's.
    from purify_tf.experiments.purifiers import TrainSettings, objective_weights
    from purify_tf.losses.layers import LOCAL_CONTENT_LAYERS, STYLE_BLOCKS

    assert [n for n, v in VARIANTS.items() if v.style_blocks != STYLE_BLOCKS] == ["paired_gaze"]
    assert [n for n, v in VARIANTS.items() if v.local_content_layers != LOCAL_CONTENT_LAYERS] == ["paired_gaze"]
    weights, _ = objective_weights(VARIANTS["paired_gaze"], TrainSettings(height=40, width=64, steps=10))
    assert weights.layers["global_style"][-1] == f"block{SHIPPED.style_blocks}_conv3"
    assert weights.layers["local_content"] == SHIPPED.local_content_layers == ("block3_conv3",)
    weights, _ = objective_weights(VARIANTS["paired_strong"], TrainSettings(height=40, width=64, steps=10))
    assert weights.layers["local_style"][-1] == "block5_conv1"
    assert weights.layers["local_content"] == LOCAL_CONTENT_LAYERS == ("block4_conv2",)
    # Content renders at real crops' eye size in the shipped configuration's row only.
    assert [n for n, v in VARIANTS.items() if v.content_eye_scale != 1.0] == ["paired_gaze"]
    assert VARIANTS["paired_gaze"].content_eye_scale == SHIPPED.content_eye_scale < 1


def test_scorecard_on_renderer_and_real_crops(tmp_path):
    """The card's scores: gap share per estimator and pupil shift on renderer eyes; pupil shift and
    KID against the mean/contrast match on real crops. The identity purifier moves no pupil and
    leaves the raw crops' KID as it is."""
    import cv2

    from purify_tf.experiments.scorecard import score_purifier

    real_dir = tmp_path / "real"
    real_dir.mkdir()
    for i, im in enumerate(render_eyes(12, 35, 55, domain="real", seed=3)["image"]):
        cv2.imwrite(str(real_dir / f"{i}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2GRAY))
    inp = tf.keras.Input((None, None, 3))
    identity = tf.keras.Model(inp, tf.keras.layers.Activation("linear")(inp))
    card = score_purifier(identity, 32, 48, n_test=20, n_train=60, estimators=("knn",), real_dir=str(real_dir))
    share = card["gap_share"]["kNN"]
    assert share["gap_share_lo"] <= share["gap_share"] <= share["gap_share_hi"]
    assert abs(share["gap_share"]) < 1e-6  # the raw eyes again: none of the gap closed
    assert card["pupil_shift_px_renderer"]["mean"] == pytest.approx(0.0, abs=1e-6)
    ref = card["pupil_reference_px_renderer"]  # raw and purified are the same eyes: same truth distances
    assert ref["truth_vs_purified"]["mean"] == pytest.approx(ref["truth_vs_raw"]["mean"], abs=1e-6)
    assert ref["raw_vs_twin"]["n"] > 0 and ref["raw_vs_twin"]["mean"] > 0  # the twin differs from the raw eye
    assert card["pupil_shift_px_real"]["mean"] == pytest.approx(0.0, abs=1e-6)
    real = card["real_eyes"]
    assert real["n_real"] == 12 and real["kid_features"]
    assert real["kid"]["purified"] == pytest.approx(real["kid"]["raw"], abs=1e-4)
    assert real["kid_vs_mean_contrast"] == pytest.approx(real["kid"]["purified"] / real["kid"]["mean/contrast match"] - 1,
                                                          abs=1e-3)
