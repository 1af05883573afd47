"""Projected L-BFGS (Gatys baseline) on self-contained differentiable objectives."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from purify_tf.baselines.gatys import (
    GatysTiming,
    gatys_optimize,
    init_image,
    make_gatys_objective,
    time_gatys_iterations,
)
from purify_tf.errors import ConfigError, DataError

H, W = 16, 16


def _gram(f: tf.Tensor) -> tf.Tensor:
    c = tf.shape(f)[-1]
    flat = tf.reshape(f, (-1, c))
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(tf.shape(flat)[0], tf.float32)


def _style_content_objective():
    """Gatys-like objective: content features + Gram matrices of a fixed random conv net."""
    rng = np.random.default_rng(0)
    k1 = tf.constant(rng.normal(0, 0.2, (3, 3, 3, 8)).astype(np.float32))
    k2 = tf.constant(rng.normal(0, 0.2, (3, 3, 8, 8)).astype(np.float32))

    def features(x):
        f1 = tf.nn.relu(tf.nn.conv2d(x / 255.0 - 0.5, k1, 1, "SAME"))
        f2 = tf.nn.relu(tf.nn.conv2d(f1, k2, 2, "SAME"))
        return f1, f2

    content = tf.constant(rng.uniform(0, 255, (1, H, W, 3)).astype(np.float32))
    style = tf.constant(rng.uniform(60, 200, (1, H, W, 3)).astype(np.float32))
    c_f2 = features(content)[1]
    s_grams = [_gram(f) for f in features(style)]

    def objective(x):
        f1, f2 = features(x)
        content_loss = tf.reduce_mean((f2 - c_f2) ** 2)
        style_loss = tf.add_n(
            [tf.reduce_sum((_gram(f) - g) ** 2) for f, g in zip((f1, f2), s_grams, strict=True)]
        )
        return 1e2 * content_loss + 1e3 * style_loss

    return objective, content.numpy()


def _quadratic_outside_box():
    """Quadratic whose unconstrained minimum lies partly outside [0, 255]."""
    target = np.random.default_rng(1).uniform(-200, 455, (1, H, W, 3)).astype(np.float32)
    t = tf.constant(target)
    return (lambda x: tf.reduce_sum((x - t) ** 2)), target


def test_objective_recorded_every_iteration_and_decreases():
    objective, content = _style_content_objective()
    seen = []
    res = gatys_optimize(
        objective,
        init_image(content, "noise", seed=0),
        max_iter=15,
        callback=lambda i, f, img: seen.append((i, f, img.shape)),
    )
    assert 1 <= res.n_iter <= 15
    assert len(res.objective_history) == res.n_iter + 1
    assert [s[0] for s in seen] == list(range(1, res.n_iter + 1))
    assert [s[1] for s in seen] == res.objective_history[1:]
    assert all(s[2] == (1, H, W, 3) for s in seen)
    assert res.objective_history[-1] < 0.5 * res.objective_history[0]
    # L-BFGS-B accepts only steps that decrease the objective.
    assert np.all(np.diff(res.objective_history) <= 1e-6 * res.objective_history[0])
    assert res.image.dtype == np.float32 and res.image.shape == (1, H, W, 3)
    assert res.seconds > 0 and res.n_evaluations >= res.n_iter


@pytest.mark.parametrize("k", [1, 3])
def test_history_length_bounded_by_max_iter(k):
    objective, content = _style_content_objective()
    res = gatys_optimize(objective, init_image(content, "content"), max_iter=k)
    assert res.n_iter <= k and len(res.objective_history) <= k + 1


def test_pixels_stay_in_box_when_target_is_outside():
    fn, target = _quadratic_outside_box()
    res = gatys_optimize(fn, init_image(target, "noise", seed=3), max_iter=30)
    assert res.image.min() >= 0.0 and res.image.max() <= 255.0
    # The constrained minimiser is the target projected onto the box.
    np.testing.assert_allclose(res.image, np.clip(target, 0, 255), atol=1e-2)
    assert (target < 0).any() and (target > 255).any()


def test_callback_can_stop_early():
    fn, target = _quadratic_outside_box()
    res = gatys_optimize(
        fn, init_image(target, "noise", seed=0), max_iter=50, callback=lambda i, f, img: i >= 2
    )
    assert res.n_iter == 2 and len(res.objective_history) == 3


def test_init_image_seeded_and_in_bounds():
    content = np.full((H, W, 3), 300.0, dtype=np.float32)
    a, b = init_image(content, "noise", seed=7), init_image(content, "noise", seed=7)
    c = init_image(content, "noise", seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (1, H, W, 3) and a.min() >= 0 and a.max() <= 255
    assert np.all(init_image(content, "content") == 255.0)
    with pytest.raises(ConfigError):
        init_image(content, "zeros")
    with pytest.raises(DataError):
        init_image(np.zeros((H, W)), "noise")


def test_noise_init_optimisation_is_deterministic():
    objective, content = _style_content_objective()
    r1 = gatys_optimize(objective, init_image(content, "noise", seed=5), max_iter=4)
    r2 = gatys_optimize(objective, init_image(content, "noise", seed=5), max_iter=4)
    np.testing.assert_allclose(r1.objective_history, r2.objective_history, rtol=1e-6)
    np.testing.assert_allclose(r1.image, r2.image, atol=1e-4)


def test_make_gatys_objective_passes_contract_arguments():
    calls = {}

    class FakeObjective:
        def __call__(self, outputs, contents, content_masks, targets):
            calls["shapes"] = (outputs.shape, contents.shape, content_masks.shape)
            calls["targets"] = targets
            return {
                "total": tf.reduce_mean((outputs - contents) ** 2)
                * tf.reduce_sum(content_masks[..., 2])
            }

    content = np.random.default_rng(11).uniform(0, 255, (H, W, 3)).astype(np.float32)
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[4:8, 4:8] = 2
    fn = make_gatys_objective(FakeObjective(), content, mask, targets={"style": 1})
    res = gatys_optimize(fn, init_image(content, "noise", seed=0), max_iter=5)
    assert calls["shapes"] == ((1, H, W, 3), (1, H, W, 3), (1, H, W, 3))
    assert calls["targets"] == {"style": 1}
    assert res.objective_history[-1] < res.objective_history[0]
    with pytest.raises(DataError):
        make_gatys_objective(FakeObjective(), content, np.zeros((H, W + 1)), targets=None)


def test_time_gatys_iterations_scales_to_400():
    objective, content = _style_content_objective()
    timing = time_gatys_iterations(objective, init_image(content, "noise", seed=0), n_iter=3)
    assert isinstance(timing, GatysTiming)
    assert timing.seconds_per_iteration > 0 and 1 <= timing.measured_iterations <= 3
    assert timing.estimated_seconds == pytest.approx(400 * timing.seconds_per_iteration)
    assert "scaled" in timing.note


def test_gatys_on_purification_objective_if_available():
    """End to end with the real masked objective and a random-weight VGG (skips if absent)."""
    objective_mod = pytest.importorskip("purify_tf.losses.objective")
    vgg = pytest.importorskip("purify_tf.models.vgg")
    layers = pytest.importorskip("purify_tf.losses.layers")
    net = vgg.build_loss_network(vgg_weights="random", layers=layers.LOSS_LAYERS, allow_download=False)
    objective = objective_mod.PurificationObjective(net)
    rng = np.random.default_rng(0)
    size = 32
    style = rng.uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    content = rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
    mask = np.zeros((1, size, size), dtype=np.int32)
    mask[:, 8:24, 8:24] = 1
    mask[:, 12:20, 12:20] = 2
    targets = objective.style_targets(style, mask)
    fn = make_gatys_objective(objective, content, mask[0], targets)
    full = make_gatys_objective(objective, content, mask[0], targets, precompute_content=False)
    x = tf.constant(init_image(content, "noise", seed=5))  # not the style image's draw
    np.testing.assert_allclose(float(fn(x)), float(full(x)), rtol=1e-4)
    res = gatys_optimize(fn, x.numpy(), max_iter=3)
    assert len(res.objective_history) == res.n_iter + 1 and res.n_iter >= 1
    assert res.objective_history[-1] < res.objective_history[0]
    assert res.image.min() >= 0 and res.image.max() <= 255


def test_a_tiny_gradient_does_not_end_the_run_at_iteration_zero():
    """L-BFGS-B's first step is the gradient itself: on an objective whose gradient over the image
    is tiny (the report's Fig. 8 objective had norm 0.03 at a noise start), that step changes the
    float32 objective by less than its rounding, and the line search ended ABNORMAL at iteration 0.
    The optimiser sees the objective scaled to a unit gradient; the history is the objective's own."""
    target = np.random.default_rng(2).uniform(0, 255, (1, H, W, 3)).astype(np.float32)
    t = tf.constant(target)
    scale = 1e-9

    def fn(x):
        return scale * tf.reduce_sum((x - t) ** 2) + 1.0  # float32 rounding of 1.0 hides tiny steps

    start = init_image(target, "noise", seed=0)
    res = gatys_optimize(fn, start, max_iter=20)
    assert res.n_iter >= 2, res.message
    assert res.objective_history[0] == pytest.approx(1.0 + scale * float(np.sum((start - target) ** 2)), rel=1e-6)
    assert res.objective_history[-1] - 1.0 < 0.01 * (res.objective_history[0] - 1.0)
