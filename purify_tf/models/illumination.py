"""Illumination-normalising front end: undo shadows, light gradients and exposure before f_W.

The transformer is a local operator trained with Gram (position-free) style statistics, so it
cannot learn from them that one half of an eye is in shadow. This layer removes low-frequency
illumination explicitly and in closed form, with the synthetic domain's
:class:`~purify_tf.luminance_prior.LuminancePrior` as the reference:

1. ``m``: the image's centred coarse log-luminance map (rows x cols cells); ``mu``, its centre, is
   the prior's mean unless ``set_centre`` gave the content domain's own mean map;
2. the smooth log-gain ``g`` minimising ``(m + g - mu)^T P (m + g - mu) + lambda |g|^2``, i.e.
   ``g = -(P + lambda I)^-1 P (m - mu)``: the correction the prior finds most plausible, small
   along directions that eye geometry explains (large synthetic variance) and large along
   shadows and gradients (small synthetic variance);
3. ``O = I * exp(upsample(g))`` (bilinear, a smooth gain, so edges and the pupil stay put);
4. tone, one of ``ILLUMINATION_TONES``:
   * ``log_contrast``: the log-luminance deviations from the image's mean are scaled so that their
     standard deviation moves ``contrast`` of the way to the synthetic set's (undoes gamma and
     contrast changes; 0 switches it off), and the result is scaled to the synthetic set's mean
     luminance;
   * ``linear``: each channel's mean and standard deviation are set to the synthetic set's
     (``LuminancePrior.channel_mean`` / ``channel_std``), the mean/contrast match after the gain.
     Alone it beats ``log_contrast`` for kNN, SVR, RF and ALR on real labelled eyes, and the
     network trained on it is the first to lower SVR's real error, but that network moves the
     pupil on real eyes far past the guard, so it does not ship (docs/DESIGN.md, "The front
     end's tone step: linear").

It has no trainable weights; the prior is stored in the layer's (non-trainable) weights, so a
saved purifier carries it.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from purify_tf.hyperparameters import ILLUMINATION_TONES
from purify_tf.luminance_prior import (
    DEFAULT_GRID,
    LOG_OFFSET,
    LuminancePrior,
    bilinear_matrix,
    coarse_log_luminance,
    luminance,
)

_PACKAGE = "purify_tf"
DEFAULT_STRENGTH = 10.0  # lambda: measured best of {1, 3, 10, 30, 100} on the renderer (docs/DESIGN.md)
DEFAULT_CONTRAST = 1.0  # share of the way to the synthetic contrast (chosen on real labelled eyes: docs/DESIGN.md)
DEFAULT_TONE = "log_contrast"  # the layer's tone step unless told (module docstring)
CHANNEL_STD_FLOOR = 1e-3  # a flat channel (std below it) maps to the synthetic mean, as the mean/contrast match does


def gain_matrix(prior: LuminancePrior, strength: float = DEFAULT_STRENGTH) -> np.ndarray:
    """``A = (P + lambda I)^-1 P``: maps the map's deviation ``m - mu`` to the log-gain ``-g``."""
    p = prior.precision.astype(np.float64)
    return np.linalg.solve(p + strength * np.eye(len(p)), p).astype(np.float32)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class IlluminationNormalization(keras.layers.Layer):
    """(B, H, W, 3) RGB [0, 255] -> same, low-frequency illumination matched to the prior."""

    def __init__(self, grid: tuple[int, int] = DEFAULT_GRID, strength: float = DEFAULT_STRENGTH,
                 contrast: float = DEFAULT_CONTRAST, tone: str = DEFAULT_TONE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if tone not in ILLUMINATION_TONES:
            raise ValueError(f"illumination tone must be one of {ILLUMINATION_TONES}, got {tone!r}")
        self.grid = (int(grid[0]), int(grid[1]))
        self.strength = float(strength)
        self.contrast = float(contrast)
        self.tone = tone
        dim = self.grid[0] * self.grid[1]
        self.prior_mean = self.add_weight(shape=(dim,), initializer="zeros", trainable=False, name="prior_mean")
        self.gain = self.add_weight(shape=(dim, dim), initializer="zeros", trainable=False, name="gain")
        self.target_luminance = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                                name="target_luminance")
        self.target_log_contrast = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                                   name="target_log_contrast")
        if tone == "linear":  # only then: purifiers saved before the option keep their variables
            self.target_channel_mean = self.add_weight(shape=(3,), initializer="zeros", trainable=False,
                                                       name="target_channel_mean")
            self.target_channel_std = self.add_weight(shape=(3,), initializer="zeros", trainable=False,
                                                      name="target_channel_std")

    def set_prior(self, prior: LuminancePrior) -> None:
        """Load a fitted prior (its grid must match the layer's)."""
        if tuple(prior.grid) != self.grid:
            raise ValueError(f"prior grid {prior.grid} does not match the layer's {self.grid}")
        self.prior_mean.assign(prior.mean)
        self.gain.assign(gain_matrix(prior, self.strength))
        self.target_luminance.assign(prior.mean_luminance)
        self.target_log_contrast.assign(prior.log_contrast)
        if self.tone == "linear":
            if not np.any(prior.channel_std):
                raise ValueError("the linear tone step needs a prior with channel moments (fit_luminance_prior "
                                 "computes them; a prior saved before they existed has none)")
            self.target_channel_mean.assign(np.asarray(prior.channel_mean, np.float32))
            self.target_channel_std.assign(np.asarray(prior.channel_std, np.float32))

    def set_centre(self, centre: np.ndarray) -> None:
        """Pull towards ``centre`` (a mean coarse map, ``luminance_prior.mean_coarse_map``) instead of
        the prior's mean: the content domain's own mean, so that the gain removes each eye's
        illumination and leaves what the domain's eyes share (their darker iris and lid shading)
        to the network (docs/DESIGN.md, "The front end's centre"). Call after ``set_prior``."""
        centre = np.asarray(centre, np.float32).reshape(-1)
        if centre.shape != (self.grid[0] * self.grid[1],):
            raise ValueError(f"the centre must be a {self.grid[0]}x{self.grid[1]} coarse map "
                             f"({self.grid[0] * self.grid[1]} values), got shape {np.shape(centre)}")
        if not np.isfinite(centre).all():
            raise ValueError("the centre holds non-finite values")
        self.prior_mean.assign(centre)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = tf.cast(inputs, tf.float32)
        rows, cols = self.grid
        deviation = coarse_log_luminance(x, self.grid) - tf.cast(self.prior_mean, tf.float32)
        log_gain = -tf.linalg.matmul(deviation, tf.cast(self.gain, tf.float32), transpose_b=True)
        log_gain = tf.reshape(log_gain, [-1, rows, cols])
        shape = tf.shape(x)
        smooth = tf.einsum("hr,brc,wc->bhw", bilinear_matrix(shape[1], rows), log_gain,
                           bilinear_matrix(shape[2], cols))
        lit = x * tf.exp(smooth)[..., None]
        if self.tone == "linear":
            return tf.cast(self._linear_tone(lit), self.compute_dtype)
        target_c = tf.cast(self.target_log_contrast, tf.float32)
        if self.contrast > 0:
            log_y = tf.math.log(luminance(lit) + LOG_OFFSET)
            centred = log_y - tf.reduce_mean(log_y, axis=[1, 2], keepdims=True)
            std = tf.sqrt(tf.reduce_mean(tf.square(centred), axis=[1, 2], keepdims=True) + 1e-6)
            want = std + self.contrast * (target_c - std)
            ratio = tf.where(target_c > 0, want / std, tf.ones_like(std))
            lit = lit * tf.exp(centred * (ratio - 1.0))[..., None]
        # Exposure: the synthetic set's mean luminance (an all-black image stays black).
        mean = tf.reduce_mean(luminance(lit), axis=[1, 2])
        target = tf.cast(self.target_luminance, tf.float32)
        scale = tf.where(target > 0, target / tf.maximum(mean, 1.0), tf.ones_like(mean))
        out = tf.clip_by_value(lit * scale[:, None, None, None], 0.0, 255.0)
        return tf.cast(out, self.compute_dtype)

    def _linear_tone(self, lit: tf.Tensor) -> tf.Tensor:
        """Each channel's mean and std set to the synthetic set's (a flat channel: its mean)."""
        mean, var = tf.nn.moments(lit, axes=[1, 2], keepdims=True)
        std = tf.sqrt(var + 1e-6)
        target_mean = tf.cast(self.target_channel_mean, tf.float32)
        target_std = tf.cast(self.target_channel_std, tf.float32)
        scale = tf.where(std > CHANNEL_STD_FLOOR, target_std / std, tf.zeros_like(std))
        return tf.clip_by_value((lit - mean) * scale + target_mean, 0.0, 255.0)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "grid": list(self.grid), "strength": self.strength,
                "contrast": self.contrast, "tone": self.tone}
