"""Kernel distance (KID, Binkowski et al. 2018) between two image sets on ImageNet VGG16 features.

Why KID: it compares whole feature distributions (not one mean statistic), its unbiased
estimate does not depend on the set sizes, and it is fine with a few hundred images. Each image
is summarised by its spatially averaged VGG16 ``block3_conv3`` and ``block4_conv3`` activations
(the mid-level taps see texture and local structure, not only exposure). Each block is divided by
one number, the root mean square of that block's features over the *reference* (synthetic) set,
so that both blocks weigh alike and ``x . y / d`` is of order 1 as for Inception features (raw
VGG activations are in the hundreds and the cubic kernel would then measure feature magnitude,
i.e. exposure, more than anything else); the scaled blocks are concatenated (256 + 512 = 768
values). Two sets are compared by the unbiased MMD^2 with the polynomial kernel
``k(x, y) = (x . y / d + 1)^3``, averaged over random subsets, with the standard deviation over
subsets as its spread. Only values against the same reference set, feature network and image
size are comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from purify_tf.palette import as_rgb_uint8

KID_LAYERS = ("block3_conv3", "block4_conv3")
KID_ARCHITECTURE = "vgg16"


def polynomial_kernel(a: np.ndarray, b: np.ndarray, degree: int = 3, coef: float = 1.0) -> np.ndarray:
    """KID's kernel matrix ``(a b^T / d + coef)^degree`` for rows of features (d columns)."""
    d = a.shape[1]
    return (a @ b.T / d + coef) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between samples ``x`` (m, d) and ``y`` (n, d) under the polynomial kernel:
    the means of k(x, x') and k(y, y') over distinct pairs minus twice the mean cross term."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"mmd2_unbiased needs at least 2 samples per set, got {m} and {n}")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kid(features_a: np.ndarray, features_b: np.ndarray, n_subsets: int = 50, subset_size: int = 100,
        seed: int = 0) -> dict[str, float]:
    """KID between two feature sets: unbiased MMD^2 averaged over ``n_subsets`` random subsets of
    ``min(subset_size, len(a), len(b))`` rows of each (drawn without replacement), and its std."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    size = int(min(subset_size, len(a), len(b)))
    rng = np.random.default_rng(seed)
    values = np.array([mmd2_unbiased(a[rng.choice(len(a), size, replace=False)],
                                     b[rng.choice(len(b), size, replace=False)]) for _ in range(n_subsets)])
    return {"kid": float(values.mean()), "std": float(values.std()), "n_subsets": int(n_subsets),
            "subset_size": size, "n_a": int(len(a)), "n_b": int(len(b))}


def feature_network(loss_network: Any = None) -> Any:
    """The VGG16 feature network for KID: ``loss_network`` itself when it is a VGG16 that taps
    both layers, else a VGG16 built with the same weights rule ("auto": ``$PURIFY_VGG_WEIGHTS``)."""
    from purify_tf.models.vgg import build_loss_network

    if (loss_network is not None and getattr(loss_network, "architecture", None) == KID_ARCHITECTURE
            and all(name in loss_network.layers for name in KID_LAYERS)):
        return loss_network
    weights = "auto"
    if loss_network is not None and "random" in str(getattr(loss_network, "weights", "")):
        weights = "random"  # tests and weight-less machines: say so rather than download
    return build_loss_network(KID_ARCHITECTURE, weights, layers=KID_LAYERS)


def pooled_features(net: Any, images: np.ndarray, layers: Sequence[str] = KID_LAYERS,
                    batch_size: int = 32) -> dict[str, np.ndarray]:
    """{layer: (N, channels)} global-average-pooled activations of ``layers``."""
    import tensorflow as tf

    x = as_rgb_uint8(images).astype(np.float32)
    out: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    for start in range(0, len(x), batch_size):
        feats = net(tf.constant(x[start : start + batch_size]))
        for name in layers:
            out[name].append(tf.reduce_mean(tf.cast(feats[name], tf.float32), axis=(1, 2)).numpy())
    return {name: np.concatenate(parts).astype(np.float64) for name, parts in out.items()}


def reference_scales(reference: dict[str, np.ndarray]) -> dict[str, float]:
    """Per layer, the root mean square of the reference set's pooled features (the block's unit)."""
    return {name: float(max(np.sqrt(np.mean(f**2)), 1e-12)) for name, f in reference.items()}


def kid_features(features: dict[str, np.ndarray], scales: dict[str, float]) -> np.ndarray:
    """(N, sum of channels): each layer divided by its reference scale, concatenated."""
    return np.concatenate([features[name] / scales[name] for name in scales], axis=1)
