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
    assert set(balanced.layer_weights["global_style"]) == set(LossWeights().layers["global_style"])
    other = rng.uniform(0, 255, (1, 32, 40, 3)).astype(np.float32)
    feats_s = {k: v.numpy() for k, v in net(tf.constant(style)).items()}
    feats_o = {k: v.numpy() for k, v in net(tf.constant(other)).items()}
    for name in balanced.layers["global_style"]:
        g_s, g_o = _np_gram(feats_s[name]), _np_gram(feats_o[name])
        want = np.sum((g_o - g_s) ** 2) / np.sum(g_s**2)
        n = feats_s[name].shape[-1]
        raw = np.sum((g_o - g_s) ** 2) / (4 * n * n)  # DESIGN.md's l_gs for equal sizes
        count = len(balanced.layers["global_style"])
        np.testing.assert_allclose(raw * balanced.layer_weight("global_style", name), want / count, rtol=2e-3)
    # Unit weights stay untouched in the original, and every weight is finite and positive.
    assert all(v == 1.0 for v in objective.weights.layer_weights["global_style"].values())
    for role in ("global_content", "local_content", "global_style", "local_style"):
        for name in balanced.layers[role]:
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
    name = balanced.weights.layers["global_content"][0]
    f_o, f_i = (net(tf.constant(x))[name].numpy().astype(np.float64) for x in (out, content))
    energy = np.mean([np.sum(net(tf.constant(style[i : i + 1]))[name].numpy().astype(np.float64) ** 2)
                      for i in range(3)])
    count = len(balanced.weights.layers["global_content"])
    np.testing.assert_allclose(float(terms["global_content"]), np.sum((f_o - f_i) ** 2) / energy / count, rtol=2e-3)
    # TV: theta * tv_scale * TV(style set) = theta.
    tv = float(tf.reduce_mean(total_variation_loss(tf.constant(style))))
    np.testing.assert_allclose(tv * balanced.weights.tv_scale, 1.0, rtol=1e-4)


def test_build_objective_is_the_balanced_objective_with_set_targets_and_fcn_labels():
    """build_objective = balance on the first ``balance_images`` eyes, then the set's mean Grams;
    without labels it asks ``mask_fn`` for them, and the luminance term only counts with gamma."""
    from purify_tf.errors import ConfigError
    from purify_tf.losses.objective import build_objective
    from purify_tf.luminance_prior import fit_luminance_prior

    net = build_loss_network("vgg16", "random", layers=LOSS_LAYERS, seed=4)
    _, style, masks = _noise_eyes(3, 2)
    weights = LossWeights(alpha=10.0, beta=1.0, theta=0.1)
    calls = []

    def mask_fn(images):
        calls.append(int(images.shape[0]))
        return tf.constant(masks[: int(images.shape[0])])

    prior = fit_luminance_prior(_noise_eyes(20, 5)[1])
    objective, targets = build_objective(net, weights, use_masks=True, layer_weighting="balanced",
                                         style_images=style, mask_fn=mask_fn, luminance_prior=prior,
                                         balance_images=2)
    assert calls == [3] and objective.luminance_prior is None  # gamma = 0: no luminance term
    want = balanced_layer_weights(PurificationObjective(net, weights), style[:2], masks[:2])
    assert objective.weights == want and weights.tv_scale == 1.0  # the given weights are not changed
    want_targets = PurificationObjective(net, want).style_set_targets(style, masks)
    for name, gram in want_targets["class_gram"].items():
        np.testing.assert_allclose(targets["class_gram"][name].numpy(), gram.numpy(), rtol=1e-6)
    unit, _ = build_objective(net, LossWeights(gamma=1.0), use_masks=False, layer_weighting="unit",
                              style_images=style, mask_fn=mask_fn, luminance_prior=prior)
    assert calls == [3] and unit.weights == LossWeights(gamma=1.0) and unit.luminance_prior is prior
    assert unit.roles == ("global_content", "global_style")
    try:
        build_objective(net, weights, use_masks=True, layer_weighting="balance", style_images=style,
                        style_masks=masks)
    except ConfigError as err:
        assert "layer_weighting" in str(err)
    else:
        raise AssertionError("an unknown layer_weighting was accepted")
