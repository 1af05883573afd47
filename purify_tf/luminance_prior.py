"""Low-frequency luminance: what Gram statistics cannot see (shadows, light gradients, exposure).

A Gram matrix sums over positions, so it is blind to *where* an image is dark: a cast shadow
over half the eye or a light gradient across it leaves the Gram statistics almost unchanged,
yet these are what separate real eyes from synthetic ones for a gaze estimator. This module
describes an eye's illumination by its *coarse log-luminance map*: the log of the luminance,
area-averaged onto a small grid (default 4 x 6 cells) and centred (its mean removed, so global
exposure does not count). Over a set of synthetic eyes these maps follow a Gaussian whose mean
is the synthetic light layout (bright sclera, darker lids and corners) and whose covariance
holds the variation that eye geometry explains; a shadow or a gradient is a direction of low
synthetic variance.

The prior is shared by a loss and a network layer: ``purify_tf.losses.luminance`` scores an
image's map under it (``luminance_prior_loss``), and the illumination-normalising front end in
:mod:`purify_tf.models.illumination` corrects towards it. It lives below both, so neither
``models`` nor ``losses`` imports the other.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import tensorflow as tf

from purify_tf.conventions import LUMA
from purify_tf.errors import ConfigError

LOG_OFFSET = 8.0  # log(Y + 8): keeps black pixels finite and damps sensor noise in the dark
DEFAULT_GRID = (3, 3)  # rows x cols of the coarse map (3 x 3 measured best of 2x2 ... 6x9, docs/report)


def luminance(images: tf.Tensor) -> tf.Tensor:
    """(B, H, W, 3) RGB [0, 255] -> (B, H, W) luminance."""
    x = tf.cast(images, tf.float32)
    return tf.tensordot(x, tf.constant(LUMA, tf.float32), axes=[[3], [0]])


def area_matrix(size: tf.Tensor, cells: int) -> tf.Tensor:
    """(cells, size) matrix that averages ``size`` positions into ``cells`` equal bins.

    Position i goes to bin floor((i + 0.5) * cells / size); works for any (dynamic) size.
    """
    size = tf.cast(size, tf.int32)
    centre = (tf.cast(tf.range(size), tf.float32) + 0.5) * float(cells) / tf.cast(size, tf.float32)
    onehot = tf.one_hot(tf.cast(tf.floor(centre), tf.int32), cells, dtype=tf.float32)  # (size, cells)
    counts = tf.maximum(tf.reduce_sum(onehot, axis=0), 1.0)
    return tf.transpose(onehot / counts)


def bilinear_matrix(size: tf.Tensor, cells: int) -> tf.Tensor:
    """(size, cells) matrix that bilinearly interpolates ``cells`` bin centres onto ``size`` pixels
    (edge bins held constant beyond their centres), the inverse direction of :func:`area_matrix`."""
    size = tf.cast(size, tf.int32)
    pos = (tf.cast(tf.range(size), tf.float32) + 0.5) * float(cells) / tf.cast(size, tf.float32) - 0.5
    pos = tf.clip_by_value(pos, 0.0, float(cells - 1))
    lo = tf.floor(pos)
    frac = pos - lo
    lo_i = tf.cast(lo, tf.int32)
    hi_i = tf.minimum(lo_i + 1, cells - 1)
    return (tf.one_hot(lo_i, cells) * (1.0 - frac)[:, None]) + (tf.one_hot(hi_i, cells) * frac[:, None])


def coarse_log_luminance(images: tf.Tensor, grid: tuple[int, int] = DEFAULT_GRID) -> tf.Tensor:
    """(B, H, W, 3) RGB [0, 255] -> (B, rows * cols) centred coarse log-luminance maps."""
    log_y = tf.math.log(luminance(images) + LOG_OFFSET)
    shape = tf.shape(log_y)
    rows = area_matrix(shape[1], grid[0])
    cols = area_matrix(shape[2], grid[1])
    coarse = tf.einsum("rh,bhw,cw->brc", rows, log_y, cols)
    flat = tf.reshape(coarse, [-1, grid[0] * grid[1]])
    return flat - tf.reduce_mean(flat, axis=1, keepdims=True)


def mean_coarse_map(images: np.ndarray, grid: tuple[int, int] = DEFAULT_GRID, batch: int = 1024) -> np.ndarray:
    """(N, H, W, 3) RGB [0, 255] -> (rows * cols,) mean centred coarse log-luminance map of a set of
    eyes: the front end's centre when it pulls each eye towards its own domain's mean (its gain then
    removes each eye's illumination, not what the domain's eyes have in common)."""
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"mean_coarse_map needs a non-empty (N, H, W, 3) image array, got {images.shape}")
    total = np.zeros(grid[0] * grid[1], np.float64)
    for start in range(0, len(images), batch):
        chunk = tf.constant(images[start:start + batch], tf.float32)
        total += coarse_log_luminance(chunk, grid).numpy().sum(axis=0)
    return (total / len(images)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class LuminancePrior:
    """Gaussian over centred coarse log-luminance maps of a synthetic eye set.

    ``mean`` (D,), ``precision`` (D, D) (inverse of the covariance plus ``ridge`` * I), ``grid``
    (rows, cols) with D = rows * cols, ``mean_luminance``: the set's mean luminance in [0, 255]
    (the exposure the front end restores), ``log_contrast``: the set's mean per-image standard
    deviation of log(Y + 8) (the contrast the front end moves towards), ``channel_mean`` and
    ``channel_std``: the set's per-channel (3,) mean of each image's channel mean and standard
    deviation (:func:`channel_moments`; the front end's linear tone step sets each eye's to them).
    """

    mean: np.ndarray
    precision: np.ndarray
    grid: tuple[int, int]
    mean_luminance: float
    num_images: int
    log_contrast: float = 0.0
    channel_mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    channel_std: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "precision": self.precision.tolist(), "grid": list(self.grid),
                "mean_luminance": self.mean_luminance, "num_images": self.num_images,
                "log_contrast": self.log_contrast, "channel_mean": list(self.channel_mean),
                "channel_std": list(self.channel_std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LuminancePrior:
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["precision"], np.float32),
                   tuple(int(v) for v in data["grid"]), float(data["mean_luminance"]), int(data["num_images"]),
                   float(data.get("log_contrast", 0.0)),
                   tuple(float(v) for v in data.get("channel_mean", (0.0, 0.0, 0.0))),
                   tuple(float(v) for v in data.get("channel_std", (0.0, 0.0, 0.0))))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def fit_luminance_prior(
    images: np.ndarray, grid: tuple[int, int] = DEFAULT_GRID, ridge: float = 1e-4, batch_size: int = 256
) -> LuminancePrior:
    """Fit the Gaussian on (N, H, W, 3) synthetic eyes (N should be well above rows * cols)."""
    images = np.asarray(images)
    dim = int(grid[0] * grid[1])
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ConfigError(f"fit_luminance_prior: expected (N, H, W, 3) RGB images, got shape {images.shape}")
    if len(images) < 2 * dim:
        raise ConfigError(f"fit_luminance_prior: {len(images)} images are too few for a {grid} grid "
                          f"(need at least {2 * dim})")
    maps = np.concatenate([
        coarse_log_luminance(tf.constant(images[i : i + batch_size], tf.float32), grid).numpy()
        for i in range(0, len(images), batch_size)
    ]).astype(np.float64)
    mean = maps.mean(axis=0)
    cov = np.cov((maps - mean).T) + ridge * np.eye(dim)
    y = images.astype(np.float32) @ np.asarray(LUMA, np.float32)
    contrast = float(np.mean(np.log(y + LOG_OFFSET).std(axis=(1, 2))))
    channel_mean, channel_std = channel_moments(images)
    return LuminancePrior(mean.astype(np.float32), np.linalg.inv(cov).astype(np.float32),
                          (int(grid[0]), int(grid[1])), float(y.mean()), int(len(images)), contrast,
                          tuple(float(v) for v in channel_mean), tuple(float(v) for v in channel_std))


def channel_moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (3,) mean over (N, H, W, 3) images of each image's channel mean, and of its
    channel standard deviation: the synthetic set's tone, as the linear tone step and the
    mean/contrast-match baseline use it."""
    x = np.asarray(images, np.float64)
    return x.mean(axis=(1, 2)).mean(axis=0), x.std(axis=(1, 2)).mean(axis=0)

