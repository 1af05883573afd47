"""Balanced weights: every role is the mean relative error over its layers (NumPy reference), so
that alpha, beta, theta and gamma are ratios of order 1."""

import numpy as np
import tensorflow as tf

from purify_tf.losses.layers import LOSS_LAYERS
from purify_tf.losses.objective import LossWeights, PurificationObjective, balanced_layer_weights
from purify_tf.losses.tv import total_variation_loss
from purify_tf.models.vgg import build_loss_network


def _np_gram(f):
    f = f.reshape(-1, f.shape[-1]).astype(np.float64)
    return f.T @ f / f.shape[0]


def _noise_eyes(n: int, seed: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    """(rng, n noise images 32x40, their labels: an iris box with a pupil box inside)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (n, 32, 40, 3)).astype(np.float32)
    masks = np.zeros((n, 32, 40), np.int32)
    masks[:, 8:24, 10:30] = 1
    masks[:, 12:20, 16:24] = 2
    return rng, images, masks


def test_balanced_global_style_is_relative_gram_error():
    net = build_loss_network("vgg16", "random", layers=LOSS_LAYERS, seed=4)
    rng, style, style_mask = _noise_eyes(1, 0)
    objective = PurificationObjective(net, LossWeights())
    balanced = balanced_layer_weights(objective, style, style_mask)
    assert set(balanced.global_style_layer_weights) == set(LossWeights().global_style_layers)
    other = rng.uniform(0, 255, (1, 32, 40, 3)).astype(np.float32)
    feats_s = {k: v.numpy() for k, v in net(tf.constant(style)).items()}
    feats_o = {k: v.numpy() for k, v in net(tf.constant(other)).items()}
    for name in balanced.global_style_layers:
        g_s, g_o = _np_gram(feats_s[name]), _np_gram(feats_o[name])
        want = np.sum((g_o - g_s) ** 2) / np.sum(g_s**2)
        n = feats_s[name].shape[-1]
        raw = np.sum((g_o - g_s) ** 2) / (4 * n * n)  # DESIGN.md's l_gs for equal sizes
        count = len(balanced.global_style_layers)
        np.testing.assert_allclose(raw * balanced.layer_weight("global_style", name), want / count, rtol=2e-3)
    # Unit weights stay untouched in the original, and every weight is finite and positive.
    assert all(v == 1.0 for v in objective.weights.global_style_layer_weights.values())
    for role in ("global_content", "local_content", "global_style", "local_style"):
        for name in balanced.layers(role):
            w = balanced.layer_weight(role, name)
            assert np.isfinite(w) and w > 0
    # The style image itself scores zero global style with the balanced objective.
    balanced_obj = PurificationObjective(net, balanced)
    targets = balanced_obj.style_targets(style, style_mask)
    terms = balanced_obj(tf.constant(style), tf.constant(style), tf.constant(style_mask), targets)
    assert float(terms["global_style"]) < 1e-6
    assert float(terms["local_style"]) < 1e-6


def test_balanced_content_is_relative_to_the_style_sets_mean_energy_and_tv_is_relative():
    net = build_loss_network("vgg16", "random", layers=LOSS_LAYERS, seed=4)
    rng, style, masks = _noise_eyes(3, 1)
    objective = PurificationObjective(net, LossWeights())
    balanced = PurificationObjective(net, balanced_layer_weights(objective, style, masks))
    out, content = (rng.uniform(0, 255, (1, 32, 40, 3)).astype(np.float32) for _ in range(2))
    targets = balanced.style_targets(style[:1], masks[:1])
    terms = balanced(tf.constant(out), tf.constant(content), tf.constant(masks[:1]), targets)
    name = balanced.weights.global_content_layers[0]
    f_o, f_i = (net(tf.constant(x))[name].numpy().astype(np.float64) for x in (out, content))
    energy = np.mean([np.sum(net(tf.constant(style[i : i + 1]))[name].numpy().astype(np.float64) ** 2)
                      for i in range(3)])
    count = len(balanced.weights.global_content_layers)
    np.testing.assert_allclose(float(terms["global_content"]), np.sum((f_o - f_i) ** 2) / energy / count, rtol=2e-3)
    # TV: theta * tv_scale * TV(style set) = theta.
    tv = float(tf.reduce_mean(total_variation_loss(tf.constant(style))))
    np.testing.assert_allclose(tv * balanced.weights.tv_scale, 1.0, rtol=1e-4)
