"""Helpers for the export/inference tests: random eye-like images and the Keras reference output."""

from __future__ import annotations

import numpy as np


def keras_reference(model, images: np.ndarray) -> np.ndarray:
    """Keras output in float pixels for any H, W (reflect-pad and crop back)."""
    from purify_tf.models.transformer import apply_padded

    return apply_padded(model, np.asarray(images, np.float32)).numpy()


def random_images(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth-ish random uint8 RGB images (noise alone is an unusual input for a conv net)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, height // 4 + 2, width // 4 + 2, 3)).astype(np.float32)
    import cv2

    return np.stack(
        [cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR) for b in base]
    ).clip(0, 255).astype(np.uint8)


# The objective's roles on the first two VGG blocks only: a truncated loss network for unit tests
# (the full network's layers are covered by tests/test_vgg.py and the slow end-to-end runs).
TINY_ROLE_LAYERS: dict[str, tuple[str, ...]] = {
    "global_content": ("block2_conv2",),
    "local_content": ("block2_conv1",),
    "global_style": ("block1_conv2", "block2_conv2"),
    "local_style": ("block1_conv1", "block2_conv1"),
}


def tiny_loss_network(seed: int = 3):
    """A random VGG16 truncated after block 2, tapping the layers of ``TINY_ROLE_LAYERS``."""
    from purify_tf.models.vgg import build_loss_network

    layers = sorted({name for names in TINY_ROLE_LAYERS.values() for name in names})
    return build_loss_network("vgg16", "random", layers=layers, seed=seed)


def tiny_weights(**overrides):
    """LossWeights over ``TINY_ROLE_LAYERS`` (alpha, beta, ... as given)."""
    from purify_tf.losses.weights import LossWeights

    return LossWeights(layers=dict(TINY_ROLE_LAYERS), **overrides)
