"""Every loss term against an independent NumPy reference (float64 loops over classes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from purify_tf.errors import ConfigError
from purify_tf.losses import (
    LossWeights,
    PurificationObjective,
    class_gram_matrices,
    downsample_masks,
    global_content_loss,
    global_style_loss,
    gram_matrix,
    local_content_loss,
    local_content_loss_eq9,
    local_style_loss,
    mask_areas,
    masked_gram_matrix,
    one_hot_masks,
    total_variation_loss,
)
from purify_tf.losses.layers import LOSS_LAYERS, layer_stride
from purify_tf.models import vgg

RTOL = 1e-4

# --------------------------------------------------------------------------- NumPy references


def np_gram(f: np.ndarray) -> np.ndarray:
    """(H, W, C) -> (C, C) = F F^T with F of shape C x M."""
    flat = f.reshape(-1, f.shape[-1]).astype(np.float64).T
    return flat @ flat.T


def np_global_content(fo, fi):
    n, m = fo.shape[-1], fo.shape[0] * fo.shape[1]
    return np.sum((fo.astype(np.float64) - fi) ** 2) / (2 * n * m)


def np_local_content(fo, fi, s):
    n, m = fo.shape[-1], fo.shape[0] * fo.shape[1]
    total = 0.0
    for c in range(s.shape[-1]):
        sc = s[..., c : c + 1].astype(np.float64)
        total += np.sum((fo * sc - fi * sc) ** 2) / (2 * n * m)
    return total


def np_global_style(fo, fs):
    n = fo.shape[-1]
    mo, ms = fo.shape[0] * fo.shape[1], fs.shape[0] * fs.shape[1]
    return np.sum((np_gram(fo) / mo - np_gram(fs) / ms) ** 2) / (4 * n**2)


def np_local_style(fo, s_content, fs, s_style):
    n = fo.shape[-1]
    total = 0.0
    for c in range(s_content.shape[-1]):
        # Areas are the Gram's own position weights, sum S_c^2 (sum S_c with hard masks).
        a_o, a_s = (s_content[..., c] ** 2).sum(), (s_style[..., c] ** 2).sum()
        if a_o <= 0 or a_s <= 0:
            continue
        g_o = np_gram(fo * s_content[..., c : c + 1])
        g_s = np_gram(fs * s_style[..., c : c + 1])
        total += np.sum((g_o / a_o - g_s / a_s) ** 2) / (4 * n**2)
    return total


def np_tv(x):
    x = x.astype(np.float64)
    total = 0.0
    for i in range(x.shape[0] - 1):
        total += np.sum((x[i + 1] - x[i]) ** 2)
    for j in range(x.shape[1] - 1):
        total += np.sum((x[:, j + 1] - x[:, j]) ** 2)
    return total


def np_downsample(one_hot, h, w):
    """Block average for integer factors."""
    big_h, big_w = one_hot.shape[1:3]
    fy, fx = big_h // h, big_w // w
    return one_hot.reshape(one_hot.shape[0], h, fy, w, fx, -1).mean(axis=(2, 4))


def labels_with_absent_classes(rng, batch, h, w):
    """Random labels; image 0 has no pupil (2), image 1 has no iris (1)."""
    labels = rng.integers(0, 3, size=(batch, h, w))
    labels[0][labels[0] == 2] = 0
    labels[1][labels[1] == 1] = 0
    return labels


# --------------------------------------------------------------------------- term tests


def test_gram_and_masked_gram_match_numpy():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(2, 5, 7, 4)).astype(np.float32)
    s = rng.uniform(size=(2, 5, 7)).astype(np.float32)
    g = gram_matrix(f).numpy()
    gm = masked_gram_matrix(f, s).numpy()
    for b in range(2):
        np.testing.assert_allclose(g[b], np_gram(f[b]), rtol=RTOL, atol=1e-4)
        np.testing.assert_allclose(gm[b], np_gram(f[b] * s[b][..., None]), rtol=RTOL, atol=1e-4)
    masks = rng.uniform(size=(2, 5, 7, 3)).astype(np.float32)
    cg = class_gram_matrices(f, masks).numpy()
    for c in range(3):
        np.testing.assert_allclose(
            cg[:, c], masked_gram_matrix(f, masks[..., c]).numpy(), rtol=RTOL
        )


def test_content_losses_match_numpy():
    rng = np.random.default_rng(2)
    fo, fi = (rng.normal(size=(3, 6, 8, 5)).astype(np.float32) for _ in range(2))
    s = one_hot_masks(labels_with_absent_classes(rng, 3, 6, 8)).numpy()
    gc = global_content_loss(fo, fi).numpy()
    lc = local_content_loss(fo, fi, s).numpy()
    assert gc.shape == lc.shape == (3,)
    for b in range(3):
        np.testing.assert_allclose(gc[b], np_global_content(fo[b], fi[b]), rtol=RTOL)
        np.testing.assert_allclose(lc[b], np_local_content(fo[b], fi[b], s[b]), rtol=RTOL)
    # With hard one-hot masks the classes partition the image: local == global.
    np.testing.assert_allclose(lc, gc, rtol=RTOL)


def test_fused_local_content_equals_the_literal_equation_with_soft_masks():
    rng = np.random.default_rng(12)
    fo, fi = (rng.normal(size=(2, 6, 8, 5)).astype(np.float32) for _ in range(2))
    soft = downsample_masks(one_hot_masks(labels_with_absent_classes(rng, 2, 24, 32)), (6, 8), 4)
    np.testing.assert_allclose(local_content_loss(fo, fi, soft).numpy(),
                               local_content_loss_eq9(fo, fi, soft).numpy(), rtol=RTOL)
    for b in range(2):
        np.testing.assert_allclose(local_content_loss_eq9(fo, fi, soft).numpy()[b],
                                   np_local_content(fo[b], fi[b], soft.numpy()[b]), rtol=RTOL)


def test_soft_mask_area_is_the_masked_grams_own_weight():
    """G_c / M_c is a weighted mean of F F^T: constant features give exactly f f^T, soft or not."""
    rng = np.random.default_rng(13)
    f_vec = rng.normal(size=4).astype(np.float32)
    features = np.broadcast_to(f_vec, (1, 6, 8, 4)).copy()
    soft = downsample_masks(one_hot_masks(rng.integers(0, 3, size=(1, 24, 32))), (6, 8), 4)
    assert np.any((soft.numpy() > 0) & (soft.numpy() < 1))  # really soft
    normalised = class_gram_matrices(features, soft) / mask_areas(soft)[..., None, None]
    for c in range(3):
        np.testing.assert_allclose(normalised.numpy()[0, c], np.outer(f_vec, f_vec), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mask_areas(soft).numpy(), np.sum(soft.numpy() ** 2, axis=(1, 2)), rtol=1e-6)


@pytest.mark.parametrize("style_hw", [(6, 8), (4, 10)])
def test_global_style_loss_matches_numpy(style_hw):
    rng = np.random.default_rng(3)
    fo = rng.normal(size=(3, 6, 8, 5)).astype(np.float32)
    fs = rng.normal(size=(1, *style_hw, 5)).astype(np.float32)
    got = global_style_loss(fo, gram_matrix(fs), style_hw[0] * style_hw[1]).numpy()
    for b in range(3):
        np.testing.assert_allclose(got[b], np_global_style(fo[b], fs[0]), rtol=RTOL)
    if style_hw == (6, 8):  # same size: exactly DESIGN.md's 1/(4 N^2 M^2) sum (G[O]-G[S])^2
        n, m = 5, 48
        literal = np.sum((np_gram(fo[0]) - np_gram(fs[0])) ** 2) / (4 * n**2 * m**2)
        np.testing.assert_allclose(got[0], literal, rtol=RTOL)
        np.testing.assert_allclose(global_style_loss(fo, gram_matrix(fs)).numpy(), got, rtol=RTOL)


def test_local_style_loss_matches_numpy_with_absent_classes():
    rng = np.random.default_rng(4)
    fo = rng.normal(size=(3, 6, 8, 5)).astype(np.float32)
    s_content = downsample_masks(one_hot_masks(labels_with_absent_classes(rng, 3, 12, 16)), (6, 8))
    s_content = s_content.numpy()
    fs = rng.normal(size=(1, 4, 10, 5)).astype(np.float32)
    style_labels = rng.integers(0, 3, size=(1, 4, 10))
    style_labels[style_labels == 1] = 2  # no iris in the style image
    s_style = one_hot_masks(style_labels).numpy()
    got = local_style_loss(
        fo, s_content, class_gram_matrices(fs, s_style), s_style.sum(axis=(1, 2))
    ).numpy()
    assert got.shape == (3,) and np.all(np.isfinite(got))
    for b in range(3):
        np.testing.assert_allclose(
            got[b], np_local_style(fo[b], s_content[b], fs[0], s_style[0]), rtol=RTOL
        )
    # The iris is absent from the style: only "other" and "pupil" contribute, for every image.
    shared = [0, 2]
    for b in range(3):
        two = np_local_style(fo[b], s_content[b][..., shared], fs[0], s_style[0][..., shared])
        np.testing.assert_allclose(got[b], two, rtol=RTOL)


def test_local_style_equals_design_formula_when_areas_match():
    rng = np.random.default_rng(5)
    fo = rng.normal(size=(1, 6, 8, 5)).astype(np.float32)
    fs = rng.normal(size=(1, 6, 8, 5)).astype(np.float32)
    s = one_hot_masks(rng.integers(0, 3, size=(1, 6, 8))).numpy()
    got = local_style_loss(fo, s, class_gram_matrices(fs, s), s.sum(axis=(1, 2))).numpy()[0]
    literal = 0.0
    for c in range(3):
        m_c = s[0, ..., c].sum()
        g_o = np_gram(fo[0] * s[0, ..., c : c + 1])
        g_s = np_gram(fs[0] * s[0, ..., c : c + 1])
        literal += np.sum((g_o - g_s) ** 2) / (4 * 25 * m_c**2)
    np.testing.assert_allclose(got, literal, rtol=RTOL)


def test_total_variation_matches_numpy():
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 255, size=(2, 5, 7, 3)).astype(np.float32)
    got = total_variation_loss(x).numpy()
    for b in range(2):
        np.testing.assert_allclose(got[b], np_tv(x[b]), rtol=RTOL)
    assert total_variation_loss(np.full((1, 4, 4, 3), 7.0, np.float32)).numpy()[0] == 0.0


def test_downsample_masks_hand_made():
    labels = np.array([[[0, 0, 1, 1], [0, 2, 1, 1], [0, 0, 0, 0], [2, 2, 0, 1]]], dtype=np.int32)
    got = downsample_masks(one_hot_masks(labels), (2, 2)).numpy()
    expected = np.array(
        [[[[0.75, 0.0, 0.25], [0.0, 1.0, 0.0]], [[0.5, 0.0, 0.5], [0.75, 0.25, 0.0]]]],
        dtype=np.float32,
    )
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-6)
    rng = np.random.default_rng(7)
    one_hot = one_hot_masks(rng.integers(0, 3, size=(2, 12, 16))).numpy()
    for h, w in [(6, 8), (3, 4), (1, 2)]:
        np.testing.assert_allclose(
            downsample_masks(one_hot, (h, w)).numpy(), np_downsample(one_hot, h, w), atol=1e-6
        )
    # Odd sizes (VGG floors 9 -> 4): still a partition of unity, no class lost.
    odd = downsample_masks(one_hot[:, :9, :9], (4, 4)).numpy()
    np.testing.assert_allclose(odd.sum(-1), 1.0, atol=1e-5)


def test_float16_features_give_float32_losses():
    rng = np.random.default_rng(8)
    f = tf.constant(rng.normal(size=(1, 4, 4, 3)), tf.float16)
    s = one_hot_masks(np.zeros((1, 4, 4), np.int32))
    assert global_content_loss(f, f).dtype == tf.float32
    assert local_style_loss(f, s, class_gram_matrices(f, s), tf.ones((1, 3))).dtype == tf.float32


# --------------------------------------------------------------------------- the objective


class FakeLossNetwork:
    """Deterministic differentiable stand-in for VGG: pooled pixels through a fixed ReLU map."""

    def __init__(self, channels: int = 4):
        self.layers = LOSS_LAYERS
        rng = np.random.default_rng(11)
        self.kernels = {
            name: tf.constant(rng.normal(size=(3, channels)).astype(np.float32) / 100.0)
            for name in self.layers
        }

    def __call__(self, images):
        out = {}
        for name in self.layers:
            stride = layer_stride(name)
            pooled = tf.nn.avg_pool2d(images, stride, stride, "VALID")
            out[name] = tf.nn.relu(tf.einsum("bhwc,cd->bhwd", pooled - 100.0, self.kernels[name]))
        return out


def np_objective(net, weights, outputs, contents, labels, style, style_labels, use_masks=True):
    fo = {k: v.numpy() for k, v in net(tf.constant(outputs)).items()}
    fi = {k: v.numpy() for k, v in net(tf.constant(contents)).items()}
    fs = {k: v.numpy() for k, v in net(tf.constant(style)).items()}
    one_hot = one_hot_masks(labels).numpy()
    style_one_hot = one_hot_masks(style_labels).numpy()
    batch = outputs.shape[0]
    terms = dict.fromkeys(["global_content", "local_content", "global_style", "local_style"], 0.0)
    for name in weights.layers["global_content"]:
        v = np.mean([np_global_content(fo[name][b], fi[name][b]) for b in range(batch)])
        terms["global_content"] += weights.layer_weight("global_content", name) * v
    for name in weights.layers["global_style"]:
        v = np.mean([np_global_style(fo[name][b], fs[name][0]) for b in range(batch)])
        terms["global_style"] += weights.layer_weight("global_style", name) * v
    if use_masks:
        for name in weights.layers["local_content"]:
            h, w = fo[name].shape[1:3]
            s = np_downsample(one_hot, h, w)
            v = np.mean([np_local_content(fo[name][b], fi[name][b], s[b]) for b in range(batch)])
            terms["local_content"] += weights.layer_weight("local_content", name) * v
        for name in weights.layers["local_style"]:
            h, w = fo[name].shape[1:3]
            s = np_downsample(one_hot, h, w)
            hs, ws = fs[name].shape[1:3]
            ss = np_downsample(style_one_hot, hs, ws)
            v = np.mean(
                [np_local_style(fo[name][b], s[b], fs[name][0], ss[0]) for b in range(batch)]
            )
            terms["local_style"] += weights.layer_weight("local_style", name) * v
    terms["tv"] = np.mean([np_tv(outputs[b]) for b in range(batch)])
    terms["total"] = (
        weights.alpha
        * (weights.lambda_g * terms["global_content"] + weights.lambda_l * terms["local_content"])
        + weights.beta
        * (weights.lambda_g * terms["global_style"] + weights.lambda_l * terms["local_style"])
        + weights.theta * terms["tv"]
    )
    return terms


@pytest.fixture
def objective_data():
    rng = np.random.default_rng(12)
    outputs = rng.uniform(0, 255, size=(3, 32, 32, 3)).astype(np.float32)
    contents = rng.uniform(0, 255, size=(3, 32, 32, 3)).astype(np.float32)
    labels = labels_with_absent_classes(rng, 3, 32, 32).astype(np.int32)
    style = rng.uniform(0, 255, size=(1, 32, 48, 3)).astype(np.float32)
    style_labels = rng.integers(0, 3, size=(1, 32, 48)).astype(np.int32)
    style_labels[style_labels == 2] = 1  # no pupil in the style image
    return outputs, contents, labels, style, style_labels


def test_objective_equals_numpy_combination(objective_data):
    outputs, contents, labels, style, style_labels = objective_data
    net = FakeLossNetwork()
    weights = LossWeights(
        alpha=3.0,
        beta=50.0,
        theta=1e-3,
        lambda_g=0.7,
        lambda_l=1.3,
        layer_weights={"global_style": {"block1_conv2": 2.0, "block3_conv3": 0.5},
                       "local_style": {"block2_conv1": 0.25}},
    )
    objective = PurificationObjective(net, weights)
    targets = objective.style_targets(style, style_labels)
    got = {k: float(v) for k, v in objective(outputs, contents, labels, targets).items()}
    expected = np_objective(net, weights, outputs, contents, labels, style, style_labels)
    assert set(got) == {
        "total",
        "global_content",
        "local_content",
        "global_style",
        "local_style",
        "tv",
        "luminance",
    }
    assert got["luminance"] == 0.0  # no prior: the paper's objective
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=RTOL, err_msg=key)
    assert all(expected[k] > 0 for k in expected)

    # With a luminance prior, gamma * l_lum is added to the same total (l_lum: see test_luminance).
    from purify_tf.data.renderer import render_eyes
    from purify_tf.losses.luminance import luminance_prior_loss
    from purify_tf.luminance_prior import fit_luminance_prior

    prior = fit_luminance_prior(render_eyes(40, 16, 24, domain="synthetic", seed=3)["image"])
    lit = PurificationObjective(net, dataclasses.replace(weights, gamma=2.0), luminance_prior=prior)
    with_lum = {k: float(v) for k, v in lit(outputs, contents, labels, targets).items()}
    lum = float(np.mean(luminance_prior_loss(tf.constant(outputs, tf.float32), prior).numpy()))
    np.testing.assert_allclose(with_lum["luminance"], lum, rtol=RTOL)
    np.testing.assert_allclose(with_lum["total"], got["total"] + 2.0 * lum, rtol=RTOL)

    # Precomputed content features (Gatys) give the same numbers; one-hot masks work too.
    content_targets = objective.content_targets(contents, labels)
    again = objective(outputs, None, None, targets, content_targets=content_targets)
    for key in got:
        np.testing.assert_allclose(float(again[key]), got[key], rtol=RTOL, err_msg=key)
    one_hot = objective(outputs, contents, one_hot_masks(labels), targets)
    np.testing.assert_allclose(float(one_hot["total"]), got["total"], rtol=RTOL)


def test_plain_perceptual_loss_without_masks(objective_data):
    outputs, contents, labels, style, style_labels = objective_data
    net = FakeLossNetwork()
    weights = LossWeights()
    objective = PurificationObjective(net, weights, use_masks=False)
    targets = objective.style_targets(style, None)
    got = objective(outputs, contents, None, targets)
    expected = np_objective(
        net, weights, outputs, contents, labels, style, style_labels, use_masks=False
    )
    assert float(got["local_content"]) == 0.0 and float(got["local_style"]) == 0.0
    np.testing.assert_allclose(float(got["total"]), expected["total"], rtol=RTOL)
    with pytest.raises(ConfigError, match="style_mask"):
        PurificationObjective(net, weights).style_targets(style, None)


def test_objective_is_tf_function_friendly_on_dynamic_shapes(objective_data):
    outputs, contents, labels, style, style_labels = objective_data
    objective = PurificationObjective(FakeLossNetwork())
    targets = objective.style_targets(style, style_labels)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.float32),
            tf.TensorSpec([None, None, None, 3], tf.float32),
            tf.TensorSpec([None, None, None], tf.int32),
        ]
    )
    def loss(o, c, m):
        return objective(o, c, m, targets)["total"]

    eager = float(objective(outputs, contents, labels, targets)["total"])
    np.testing.assert_allclose(float(loss(outputs, contents, labels)), eager, rtol=RTOL)
    small = loss(outputs[:2, :16, :24], contents[:2, :16, :24], labels[:2, :16, :24])
    assert np.isfinite(float(small))


def test_objective_rejects_network_without_needed_taps():
    net = FakeLossNetwork()
    net.layers = ("block1_conv1",)
    with pytest.raises(ConfigError, match="block3_conv2"):
        PurificationObjective(net)


def test_gradients_finite_with_real_vgg_and_empty_masks():
    net = vgg.build_loss_network("vgg16", "random", layers=LOSS_LAYERS, allow_download=False)
    objective = PurificationObjective(net)
    rng = np.random.default_rng(13)
    style = rng.uniform(0, 255, size=(1, 32, 32, 3)).astype(np.float32)
    targets = objective.style_targets(style, np.zeros((1, 32, 32), np.int32))  # only "other"
    contents = rng.uniform(0, 255, size=(2, 32, 32, 3)).astype(np.float32)
    labels = np.zeros((2, 32, 32), np.int32)
    labels[1, 8:20, 8:20] = 1  # iris in the content, absent from the style
    outputs = tf.Variable(rng.uniform(0, 255, size=(2, 32, 32, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        terms = objective(outputs, contents, labels, targets)
    grad = tape.gradient(terms["total"], outputs).numpy()
    assert all(np.isfinite(float(v)) for v in terms.values())
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
    # A style mask with no class at all: local style is exactly 0, gradients still finite.
    empty_targets = objective.style_targets(style, np.full((1, 32, 32), 5, np.int32))
    with tf.GradientTape() as tape:
        terms = objective(outputs, contents, labels, empty_targets)
    grad = tape.gradient(terms["total"], outputs).numpy()
    assert float(terms["local_style"]) == 0.0
    assert np.all(np.isfinite(grad))


def test_term_table_names_every_weighted_term(objective_data):
    """The table (role, layer, weight, function) is what the total adds up."""
    outputs, contents, labels, style, style_labels = objective_data
    net = FakeLossNetwork()
    weights = LossWeights(alpha=3.0, beta=50.0, theta=1e-3, lambda_g=0.7, lambda_l=1.3,
                          layer_weights={"global_style": {"block1_conv2": 2.0}})
    objective = PurificationObjective(net, weights)
    rows = objective.terms()
    roles = {(t.role, t.layer) for t in rows}
    for role in ("global_content", "local_content", "global_style", "local_style"):
        assert {(role, layer) for layer in weights.layers[role]} <= roles
    row = next(t for t in rows if t.role == "global_style" and t.layer == "block1_conv2")
    assert row.function == "global_style_loss" and row.weight == pytest.approx(50.0 * 0.7 * 2.0)
    assert [t.role for t in rows][-1] == "tv" and "local_style_loss" in objective.describe()
    # Recompute the total from the table: weight * batch mean of the named function.
    from purify_tf.losses import objective as objective_module

    targets = objective.style_targets(style, style_labels)
    got = objective(outputs, contents, labels, targets)
    feats_o, feats_i = net(tf.constant(outputs)), net(tf.constant(contents))
    one_hot = one_hot_masks(labels)
    total = 0.0
    for t in rows:
        if t.role == "tv":
            total += t.weight * float(tf.reduce_mean(total_variation_loss(outputs)))
        else:
            role = objective_module.ROLE_RECORDS[t.role]
            value = role.loss(t.layer, feats_o[t.layer], feats_i[t.layer], one_hot, targets)
            total += t.weight * float(tf.reduce_mean(value))
    np.testing.assert_allclose(float(got["total"]), total, rtol=RTOL)


def test_loss_weights_are_keyed_by_role_and_reject_unknown_roles():
    from purify_tf.errors import ConfigError
    from purify_tf.losses.roles import ROLE_RECORDS
    from purify_tf.losses.weights import DEFAULT_LAYERS, ROLES

    weights = LossWeights(layers={"global_style": ["block1_conv2"]},
                          layer_weights={"local_style": {"block2_conv1": 0.25}})
    assert weights.layers["global_style"] == ("block1_conv2",)
    assert weights.layers["local_content"] == DEFAULT_LAYERS["local_content"]
    assert weights.layer_weight("local_style", "block2_conv1") == 0.25
    assert weights.layer_weight("local_style", "block1_conv1") == 1.0
    # The metadata form names roles as keys, readable without knowing the dataclass.
    saved = weights.to_dict()
    assert saved["layers"]["global_style"] == ("block1_conv2",) and set(saved["layer_weights"]) == set(ROLES)
    assert tuple(ROLE_RECORDS) == ROLES
    with pytest.raises(ConfigError, match="global_styles"):
        LossWeights(layers={"global_styles": ("block1_conv2",)})


def test_loss_weights_from_settings_reads_flags_configs_and_flagfile_strings():
    """LossWeights.from_settings: the scalars present (as floats), <role>_layers lists or
    comma-separated strings, overrides last; absent names keep the defaults. DomainWeights checks
    its target."""
    import types

    from purify_tf.losses.weights import DomainWeights, LossWeights

    flagfile = {"alpha": "10", "beta": "1", "theta": "0.1", "gamma": "0", "style_seed": "7",
                "global_style_layers": "block1_conv2,block2_conv2"}
    w = LossWeights.from_settings(flagfile)
    assert (w.alpha, w.beta, w.theta, w.gamma) == (10.0, 1.0, 0.1, 0.0)
    assert w.layers["global_style"] == ("block1_conv2", "block2_conv2")
    assert w.layers["global_content"] == LossWeights().layers["global_content"] and w.lambda_g == LossWeights().lambda_g
    settings = types.SimpleNamespace(alpha=3, beta=2.0, theta=0.5, local_content_layers=["block2_conv1"])
    w = LossWeights.from_settings(settings, gamma=1.0, alpha=0.0)
    assert (w.alpha, w.beta, w.theta, w.gamma) == (0.0, 2.0, 0.5, 1.0) and w.layers["local_content"] == ("block2_conv1",)
    d = DomainWeights.from_settings(types.SimpleNamespace(adversarial=0, identity=1, paired=10, paired_target="structure"))
    assert d.active() == ("identity", "paired") and d.paired == 10.0
    with pytest.raises(ValueError, match="paired_target must be one of"):
        DomainWeights(paired_target="exact")


def test_style_blocks_choose_the_style_taps_and_the_objective_computes_only_what_it_reads():
    """style_layers(4) drops block 5's style taps; LossWeights.from_settings reads style_blocks (explicit
    <role>_layers win); the objective's network ends at the deepest layer its terms read, and its terms
    equal those of the full network's features."""
    from purify_tf.losses.layers import STYLE_BLOCKS, style_layers
    from purify_tf.losses.weights import LossWeights

    four = style_layers(4)
    assert four["global_style"] == ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3")
    assert four["local_style"] == ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1")
    assert style_layers(STYLE_BLOCKS)["global_style"] == LossWeights().layers["global_style"]
    with pytest.raises(ValueError, match="style blocks must be 1..5"):
        style_layers(6)
    w = LossWeights.from_settings({"style_blocks": "4", "local_style_layers": "block1_conv1"})
    assert w.layers["global_style"] == four["global_style"] and w.layers["local_style"] == ("block1_conv1",)

    net = vgg.build_loss_network("vgg16", "random", layers=LOSS_LAYERS, allow_download=False)
    full = PurificationObjective(net)
    short = PurificationObjective(net, LossWeights(layers=four))
    assert full.perceptual_network is net
    assert "block5_conv1" not in short.perceptual_network.layers
    assert not any(layer.name.startswith("block5") for layer in short.perceptual_network.model.layers)
    rng = np.random.default_rng(3)
    style = rng.uniform(0, 255, size=(1, 32, 32, 3)).astype(np.float32)
    contents = rng.uniform(0, 255, size=(2, 32, 32, 3)).astype(np.float32)
    outputs = rng.uniform(0, 255, size=(2, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=(2, 32, 32)).astype(np.int32)
    style_labels = rng.integers(0, 3, size=(1, 32, 32)).astype(np.int32)
    through_full = PurificationObjective(net, LossWeights(layers=four))
    through_full.perceptual_network = net  # the same terms read from the whole network's features
    a = short(outputs, contents, labels, short.style_targets(style, style_labels))
    b = through_full(outputs, contents, labels, through_full.style_targets(style, style_labels))
    for key in ("global_style", "local_style", "global_content", "local_content", "total"):
        np.testing.assert_allclose(float(a[key]), float(b[key]), rtol=1e-5, err_msg=key)
