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
