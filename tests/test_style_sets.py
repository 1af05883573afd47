"""Style targets of a set (mean normalised Grams) and per-batch style streams."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from purify_tf.data.renderer import render_eyes
from purify_tf.errors import ConfigError
from purify_tf.losses.layers import LOSS_LAYERS
from purify_tf.losses.objective import LossWeights, PurificationObjective
from purify_tf.models.vgg import build_loss_network
from purify_tf.training.inputs import RendererSource, step_dataset
from purify_tf.training.style_source import load_style_set, style_arguments


@pytest.fixture(scope="module")
def net():
    return build_loss_network("vgg16", "random", layers=LOSS_LAYERS, seed=2)


def _np_normalised_gram(f: np.ndarray, s: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    f = f.reshape(-1, f.shape[-1]).astype(np.float64)
    if s is None:
        return f.T @ f / f.shape[0], float(f.shape[0])
    s = s.reshape(-1, 1).astype(np.float64)
    area = float(s.sum())
    return (f * s).T @ (f * s) / max(area, 1e-12), area


def test_set_targets_are_mean_normalised_grams(net):
    eyes = render_eyes(3, 32, 48, domain="synthetic", seed=1)
    objective = PurificationObjective(net, LossWeights())
    targets = objective.style_set_targets(eyes["image"], eyes["mask"], batch_size=2)
    name = objective.weights.layers["global_style"][0]
    feats = [net(tf.constant(eyes["image"][i : i + 1], tf.float32))[name].numpy()[0] for i in range(3)]
    want = np.mean([_np_normalised_gram(f)[0] for f in feats], axis=0)
    np.testing.assert_allclose(targets["gram"][name].numpy()[0], want, rtol=1e-4)
    assert float(targets["positions"][name]) == 1.0
    # Local (pupil class, at full resolution for block1): mean over images where present.
    local = objective.weights.layers["local_style"][0]
    lf = [net(tf.constant(eyes["image"][i : i + 1], tf.float32))[local].numpy()[0] for i in range(3)]
    present = [(eyes["mask"][i] == 2).any() for i in range(3)]
    grams = [_np_normalised_gram(lf[i], (eyes["mask"][i] == 2).astype(np.float64))[0]
             for i in range(3) if present[i]]
    got = targets["class_gram"][local].numpy()[0, 2]
    np.testing.assert_allclose(got, np.mean(grams, axis=0), rtol=1e-3, atol=1e-6)


def test_one_image_set_scores_like_the_image_itself(net):
    eye = render_eyes(1, 32, 48, domain="synthetic", seed=4)
    out = render_eyes(2, 32, 48, domain="real", seed=5)
    objective = PurificationObjective(net, LossWeights())
    single = objective.style_targets(tf.constant(eye["image"], tf.float32), tf.constant(eye["mask"]))
    as_set = objective.style_set_targets(eye["image"], eye["mask"])
    args = (tf.constant(out["image"], tf.float32), tf.constant(out["image"], tf.float32), tf.constant(out["mask"]))
    a, b = objective(*args, single), objective(*args, as_set)
    for term in ("global_style", "local_style"):
        np.testing.assert_allclose(float(a[term]), float(b[term]), rtol=1e-4)


def test_style_sources(tmp_path):
    renderer = load_style_set("renderer", 32, 48, set_size=5, seed=3)
    assert renderer.images.shape == (5, 32, 48, 3) and renderer.masks.shape == (5, 32, 48)
    assert len(renderer.prior_images) >= 48
    one = load_style_set("image", 32, 48, seed=3)
    assert one.images.shape == (1, 32, 48, 3)
    with pytest.raises(ConfigError, match="--style="):
        load_style_set("folder", 32, 48, folder=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="style source must be one of"):
        load_style_set("painting", 32, 48)


def test_style_flag_names_a_source(tmp_path):
    """trainers.purify's --style: two words, else an image file or a folder; anything else names --style."""
    image = tmp_path / "eye.png"
    image.write_bytes(b"")
    assert style_arguments("renderer") == {"source": "renderer", "image": None, "folder": None}
    assert style_arguments("render") == {"source": "image", "image": None, "folder": None}  # the render of the seed
    assert style_arguments(str(image)) == {"source": "image", "image": str(image), "folder": None}
    assert style_arguments(str(tmp_path)) == {"source": "folder", "image": None, "folder": str(tmp_path)}
    for bad in (str(tmp_path / "missing"), "", "renderers"):
        with pytest.raises(ConfigError, match=r"--style=.* must be renderer .*render .*image file .*folder"):
            style_arguments(bad)


def test_step_dataset_carries_a_style_eye_per_content_eye():
    content = RendererSource(32, 48, "real", seed=0)
    style = RendererSource(32, 48, "synthetic", seed=1)
    batches = list(step_dataset(content, 2, 0, 2, style_source=style))
    assert set(batches[0]) == {"image", "mask", "style", "style_mask"}
    assert batches[0]["style"].shape == (2, 32, 48, 3)
    again = list(step_dataset(content, 2, 1, 2, style_source=style))
    np.testing.assert_array_equal(batches[1]["style"].numpy(), again[0]["style"].numpy())
