"""Real eyes without labels (e.g. the MPIIGaze crops): label-free evidence that purification works.

Two measures need no gaze labels: (1) the pupil centre should stay where it was (FCN centroids,
raw vs purified), and (2) the purified eyes' VGG feature statistics should come closer to those of
synthetic eyes. For (2) each image set is summarised by its mean normalised Gram matrix
``F F^T / M`` per layer (the statistic the style loss matches) and two sets are compared by the
relative Frobenius distance ``||G_a - G_b|| / ||G_b||`` averaged over layers, before (raw vs
synthetic) and after (purified vs synthetic).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from purify_tf.data.image_io import resize_images
from purify_tf.experiments.pupil import pupil_preservation
from purify_tf.palette import as_rgb_uint8

# Global-style taps of the loss network (DESIGN.md), one per VGG block.
STAT_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3")


def load_eye_folder(path: str | Path, height: int, width: int, limit: int | None = None) -> np.ndarray:
    """A folder of eye crops (any sizes, gray or RGB(A)) -> uint8 (N, height, width, 3)."""
    from purify_tf.data.folder import list_images
    from purify_tf.data.image_io import read_image

    files = list_images(path)[: limit or None]
    images = [as_rgb_uint8(read_image(f)[None])[0] for f in files]
    return np.stack([resize_images(im[None], height, width)[0] for im in images])


def gram_statistics(
    loss_network: Any, images: np.ndarray, layers: Sequence[str] = STAT_LAYERS, batch_size: int = 16
) -> dict[str, np.ndarray]:
    """Mean normalised Gram ``F F^T / M`` (C, C) per layer over a set of images."""
    from purify_tf.losses.gram import gram_matrix

    x = as_rgb_uint8(images).astype(np.float32)
    sums: dict[str, np.ndarray] = {}
    for start in range(0, len(x), batch_size):
        feats = loss_network(tf.constant(x[start : start + batch_size]))
        for name in layers:
            f = tf.cast(feats[name], tf.float32)
            m = float(f.shape[1] * f.shape[2])
            g = gram_matrix(f).numpy().astype(np.float64).sum(axis=0) / m
            sums[name] = sums.get(name, 0.0) + g
    return {name: s / len(x) for name, s in sums.items()}


def gram_distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """Relative Frobenius distance per layer from statistics ``a`` to reference ``b``, and mean."""
    out = {
        name: float(np.linalg.norm(a[name] - b[name]) / max(np.linalg.norm(b[name]), 1e-12))
        for name in b
    }
    out["mean"] = float(np.mean(list(out.values())))
    return out


def real_eyes_measures(
    raw: np.ndarray,
    purified: np.ndarray,
    synthetic: np.ndarray,
    fcn: Any,
    loss_network: Any,
    layers: Sequence[str] = STAT_LAYERS,
) -> dict[str, Any]:
    """Label-free measures on real eyes: pupil shift raw -> purified and the Gram distance to
    synthetic eyes before and after purification (all sets resized to the raw eyes' size)."""
    raw, purified = as_rgb_uint8(raw), as_rgb_uint8(purified)
    h, w = raw.shape[1:3]
    synthetic = resize_images(as_rgb_uint8(synthetic), h, w)
    ref = gram_statistics(loss_network, synthetic, layers)
    before = gram_distance(gram_statistics(loss_network, raw, layers), ref)
    after = gram_distance(gram_statistics(loss_network, purified, layers), ref)
    return {
        "n_real": int(len(raw)),
        "n_synthetic": int(len(synthetic)),
        "size": [int(h), int(w)],
        "pupil": pupil_preservation(fcn, raw, purified),
        "gram_distance_before": before,
        "gram_distance_after": after,
        "gram_distance_change": float(after["mean"] - before["mean"]),
        "layers": list(layers),
    }
