"""The low-frequency luminance prior, its loss and the illumination front end (NumPy references)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from purify_tf.data.renderer import render_eyes
from purify_tf.errors import ConfigError
from purify_tf.losses.luminance import luminance_prior_loss
from purify_tf.luminance_prior import (
    LOG_OFFSET,
    LUMA,
    LuminancePrior,
    coarse_log_luminance,
    fit_luminance_prior,
    mean_coarse_map,
)
from purify_tf.models.illumination import IlluminationNormalization
from purify_tf.models.transformer import build_transformer, front_end_of, with_precision


def np_coarse(images: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Bin pixel i of n into floor((i + 0.5) * cells / n), average log(Y + 8) per cell, centre."""
    y = np.log(images.astype(np.float64) @ np.asarray(LUMA) + LOG_OFFSET)
    n, h, w = y.shape
    rb = np.floor((np.arange(h) + 0.5) * grid[0] / h).astype(int)
    cb = np.floor((np.arange(w) + 0.5) * grid[1] / w).astype(int)
    out = np.zeros((n, grid[0], grid[1]))
    for r in range(grid[0]):
        for c in range(grid[1]):
            out[:, r, c] = y[:, rb == r][:, :, cb == c].mean(axis=(1, 2))
    flat = out.reshape(n, -1)
    return flat - flat.mean(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def synthetic_set() -> np.ndarray:
    return render_eyes(96, 32, 48, domain="synthetic", seed=5)["image"]


@pytest.mark.parametrize("shape", [(2, 32, 48), (3, 35, 55)])
def test_coarse_log_luminance_matches_numpy(shape):
    images = np.random.default_rng(0).uniform(0, 255, (*shape, 3)).astype(np.float32)
    got = coarse_log_luminance(tf.constant(images), (4, 6)).numpy()
    np.testing.assert_allclose(got, np_coarse(images, (4, 6)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 0.0, atol=1e-5)


def test_prior_loss_is_the_per_cell_mahalanobis_distance(synthetic_set):
    prior = fit_luminance_prior(synthetic_set, grid=(4, 6))
    maps = np_coarse(synthetic_set, (4, 6))
    np.testing.assert_allclose(prior.mean, maps.mean(0), atol=1e-4)
    x = synthetic_set[:5].astype(np.float32)
    d = np_coarse(x, (4, 6)) - prior.mean.astype(np.float64)
    want = np.einsum("bi,ij,bj->b", d, prior.precision.astype(np.float64), d) / 24
    np.testing.assert_allclose(luminance_prior_loss(tf.constant(x), prior).numpy(), want, rtol=1e-3)
    # A cast shadow over half the eye is far less likely than the set's own eyes.
    shadowed = x.copy()
    shadowed[:, :, :24] *= 0.4
    assert luminance_prior_loss(tf.constant(shadowed), prior).numpy().mean() > 3 * want.mean()
    # Round trip through JSON-able dicts (stored in metadata).
    again = LuminancePrior.from_dict(prior.to_dict())
    np.testing.assert_allclose(again.precision, prior.precision)
    assert again.grid == prior.grid


def test_prior_needs_enough_rgb_images():
    with pytest.raises(ConfigError, match="too few"):
        fit_luminance_prior(np.zeros((10, 32, 48, 3), np.uint8))
    with pytest.raises(ConfigError, match="RGB"):
        fit_luminance_prior(np.zeros((100, 32, 48), np.uint8))


def test_front_end_removes_a_light_gradient_and_keeps_the_pupil(synthetic_set):
    prior = fit_luminance_prior(synthetic_set)
    layer = IlluminationNormalization()
    layer.set_prior(prior)
    eyes = render_eyes(8, 32, 48, domain="synthetic", seed=77)
    ramp = np.linspace(0.35, 1.0, 48, dtype=np.float32)[None, None, :, None]
    lit = np.clip(eyes["image"].astype(np.float32) * ramp, 0, 255)
    out = layer(tf.constant(lit)).numpy()
    before = luminance_prior_loss(tf.constant(lit), prior).numpy().mean()
    after = luminance_prior_loss(tf.constant(out), prior).numpy().mean()
    assert after < 0.5 * before, (before, after)
    # The correction is a smooth gain: dark pupil pixels stay the darkest of their neighbourhood.
    gray = out @ np.asarray(LUMA, np.float32)
    for i in range(8):
        pupil = eyes["mask"][i] == 2
        if pupil.sum() >= 2:
            iris = eyes["mask"][i] == 1
            assert gray[i][pupil].mean() < gray[i][iris].mean()
    # Exposure: the output's mean luminance is the synthetic set's (less where bright pixels clip).
    means = gray.mean(axis=(1, 2))
    assert np.all(means <= prior.mean_luminance + 0.5) and np.median(means) > 0.97 * prior.mean_luminance


def test_mean_coarse_map_is_the_sets_mean_map():
    images = np.random.default_rng(3).uniform(0, 255, (7, 35, 55, 3)).astype(np.float32)
    np.testing.assert_allclose(mean_coarse_map(images, (3, 3), batch=3), np_coarse(images, (3, 3)).mean(0),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="non-empty"):
        mean_coarse_map(np.zeros((0, 8, 8, 3)))


def test_content_centre_leaves_an_eye_at_the_centre_ungained(synthetic_set):
    """set_centre: the gain pulls towards the given map, so an eye whose coarse map is the centre
    gets no gain (the output is the tone step alone: the layer with a zero gain matrix), while the
    synthetic centre does gain it."""
    prior = fit_luminance_prior(synthetic_set)
    eye = render_eyes(1, 32, 48, domain="real", seed=41)["image"].astype(np.float32)
    centred, synthetic, tone_only = (IlluminationNormalization() for _ in range(3))
    for layer in (centred, synthetic, tone_only):
        layer.set_prior(prior)
    centred.set_centre(mean_coarse_map(eye))
    tone_only.gain.assign(np.zeros_like(tone_only.gain.numpy()))
    want = tone_only(tf.constant(eye)).numpy()
    np.testing.assert_allclose(centred(tf.constant(eye)).numpy(), want, atol=1e-3)
    assert np.abs(synthetic(tf.constant(eye)).numpy() - want).max() > 1.0
    with pytest.raises(ValueError, match="3x3 coarse map"):
        centred.set_centre(np.zeros(4))
    with pytest.raises(ValueError, match="non-finite"):
        centred.set_centre(np.full(9, np.nan))


def test_linear_tone_is_the_mean_contrast_match_after_the_gain(tmp_path, synthetic_set):
    """tone="linear": each channel's mean and std become the synthetic set's (the NumPy reference:
    per-channel standardisation); with the gain off (a huge lambda) it is the mean/contrast match."""
    prior = fit_luminance_prior(synthetic_set)
    x = synthetic_set.astype(np.float64)
    np.testing.assert_allclose(prior.channel_mean, x.mean(axis=(1, 2)).mean(0), rtol=1e-6)
    np.testing.assert_allclose(prior.channel_std, x.std(axis=(1, 2)).mean(0), rtol=1e-6)
    again = LuminancePrior.from_dict(prior.to_dict())
    assert again.channel_mean == prior.channel_mean and again.channel_std == prior.channel_std
    eyes = render_eyes(6, 32, 48, domain="real", seed=21)["image"].astype(np.float32)
    eyes[0, ..., 2] = 90.0  # a flat channel maps to the synthetic mean
    layer = IlluminationNormalization(strength=1e12, tone="linear")
    layer.set_prior(prior)
    out = layer(tf.constant(eyes)).numpy().astype(np.float64)
    m, s = eyes.mean(axis=(1, 2), keepdims=True), eyes.std(axis=(1, 2), keepdims=True)
    want = np.where(s > 1e-3, (eyes - m) / np.maximum(s, 1e-3), 0.0) * np.asarray(prior.channel_std) + np.asarray(
        prior.channel_mean)
    np.testing.assert_allclose(out, np.clip(want, 0, 255), atol=0.05)
    np.testing.assert_allclose(out[0, ..., 2], prior.channel_mean[2], atol=1e-3)
    # With the gain on, the tone still sets the moments (up to clipping) and the light gradient goes.
    lit = IlluminationNormalization(tone="linear")
    lit.set_prior(prior)
    ramp = np.linspace(0.35, 1.0, 48, dtype=np.float32)[None, None, :, None]
    shaded = np.clip(synthetic_set[:8].astype(np.float32) * ramp, 0, 255)
    got = lit(tf.constant(shaded)).numpy()
    np.testing.assert_allclose(got.mean(axis=(1, 2)).mean(0), prior.channel_mean, rtol=0.05)
    before = luminance_prior_loss(tf.constant(shaded), prior).numpy().mean()
    assert luminance_prior_loss(tf.constant(got), prior).numpy().mean() < 0.5 * before
    # It saves and loads with its tone; a purifier saved without the option reads as log_contrast.
    model = build_transformer("paper", residual=True, illumination=True, illumination_tone="linear")
    front_end_of(model).set_prior(prior)
    model.save(tmp_path / "linear.keras")
    loaded = keras.saving.load_model(tmp_path / "linear.keras")
    assert front_end_of(loaded).tone == "linear"
    np.testing.assert_allclose(loaded(tf.constant(eyes)).numpy(), model(tf.constant(eyes)).numpy(), atol=1e-3)
    config = IlluminationNormalization().get_config()
    del config["tone"]
    assert IlluminationNormalization.from_config(config).tone == "log_contrast"


def test_linear_tone_needs_channel_moments_and_a_known_tone(synthetic_set):
    with pytest.raises(ValueError, match="tone must be one of"):
        IlluminationNormalization(tone="gamma")
    old = fit_luminance_prior(synthetic_set).to_dict()
    del old["channel_mean"], old["channel_std"]
    with pytest.raises(ValueError, match="channel moments"):
        IlluminationNormalization(tone="linear").set_prior(LuminancePrior.from_dict(old))


def test_prior_grid_must_match_the_layer(synthetic_set):
    with pytest.raises(ValueError, match="grid"):
        IlluminationNormalization(grid=(2, 3)).set_prior(fit_luminance_prior(synthetic_set, grid=(4, 6)))


def test_residual_transformer_starts_as_identity_or_front_end_and_saves(tmp_path, synthetic_set):
    x = tf.constant(render_eyes(2, 32, 48, domain="real", seed=3)["image"], tf.float32)
    plain = build_transformer("paper", residual=True)
    np.testing.assert_allclose(plain(x, training=False).numpy(), x.numpy(), atol=1e-3)
    model = build_transformer("paper", residual=True, illumination=True)
    front = front_end_of(model)
    assert front_end_of(plain) is None and isinstance(front, IlluminationNormalization)
    front.set_prior(fit_luminance_prior(synthetic_set))
    np.testing.assert_allclose(model(x, training=False).numpy(), front(x).numpy(), atol=1e-3)
    assert not front.trainable_weights
    # Gradients reach every trainable weight through the residual output (after one update the
    # zero output conv has moved).
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True) - 128.0))
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    path = tmp_path / "p.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again(x, training=False).numpy(), model(x, training=False).numpy(), atol=1e-3)
    # The front end is found by type in a loaded model and stays float32 under any precision.
    assert front_end_of(again) is not None
    assert front_end_of(with_precision(again, "bfloat16")).compute_dtype == "float32"


def test_raw_beside_reads_the_raw_eye_and_starts_as_the_front_end(tmp_path, synthetic_set):
    """f_W's first conv sees 6 channels (front end output, raw eye); the purifier still starts as the
    front end, the raw channels get gradients, and the model saves and folds for inference."""
    from purify_tf.models.inference_graph import fold_for_inference

    x = tf.constant(render_eyes(2, 32, 48, domain="real", seed=3)["image"], tf.float32)
    model = build_transformer("tiny", residual=True, illumination=True, raw_beside=True)
    front_end_of(model).set_prior(fit_luminance_prior(synthetic_set))
    assert model.get_layer("down1_conv").kernel.shape[2] == 6
    np.testing.assert_allclose(model(x, training=False).numpy(), front_end_of(model)(x).numpy(), atol=1e-3)
    # Once the zero output conv has moved (here: set), gradients reach the raw eye's channels.
    out = model.get_layer("output_conv")
    out.kernel.assign(tf.random.normal(out.kernel.shape, stddev=0.01, seed=1))
    first = model.get_layer("down1_conv").kernel
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True) - 128.0))
    grad = tape.gradient(loss, first).numpy()
    assert np.isfinite(grad).all() and np.abs(grad[:, :, 3:, :]).sum() > 0
    a = model(x, training=False).numpy()
    path = tmp_path / "raw_beside.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again(x, training=False).numpy(), a, atol=1e-3)
    np.testing.assert_allclose(fold_for_inference(again)(x).numpy(), a, atol=1e-2)
    with pytest.raises(ValueError, match="raw_beside needs the illumination front end"):
        build_transformer("tiny", residual=True, raw_beside=True)
