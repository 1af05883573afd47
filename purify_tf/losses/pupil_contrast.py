"""Pupil contrast kept (not in the paper): the pupil may not become less dark against its surround
than on the content eye.

Why: on real MPIIGaze eyes the iris and the pupil form one dark disc, and synthetic irises are
lighter. A network trained towards synthetic eyes may lighten the whole disc; then the pupil is no
longer the darkest spot of the eye (lashes, brows and eye corners are), and a pupil detector, or a
gaze estimator, loses it (docs/DESIGN.md, "The front end's tone step"). The pupil-shift term keeps the
FCN's pupil *centre*, which such a lightened pupil can keep; this term keeps its *darkness*.

The measure is a Weber contrast over the coarse FCN's pupil mask of the content eye:
``c(X) = mean_pupil (Y - S) / (S + offset)``, ``Y`` the luminance, ``S`` its Gaussian-weighted
surround (``SURROUND_SIGMA_FRAC`` of the width: about the iris's size, so the surround is iris,
sclera and lids), normalised at the border. A smooth gain leaves it unchanged, so the
illumination front end's work is free; only darkening the pupil relative to what is around it is
asked for. ``l_pc = (max(0, c(O) - c(I)) / PUPIL_CONTRAST_TOLERANCE)^2``: 0 while the output's pupil
is at least as dark as the content's (darker is allowed), 1 when it is lighter by the tolerance.
Eyes with under ``MIN_PUPIL_AREA_PX`` of pupil on the content eye add 0.

The term never searches for the darkest spot, so the report's darkest-blob pupil detector stays a
check of where the pupil is, not the quantity optimised.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from purify_tf.conventions import PUPIL
from purify_tf.losses.pupil_shift import MIN_PUPIL_AREA_PX
from purify_tf.luminance_prior import luminance as to_luminance

SURROUND_SIGMA_FRAC = 0.125  # the surround's Gaussian sigma, times the image width (8 px at 64)
WEBER_OFFSET = 8.0  # added to the surround (0-255 luminance), so that a black surround does not divide by 0
PUPIL_CONTRAST_TOLERANCE = 0.1  # a pupil lighter by this Weber contrast costs 1


def _gaussian_taps(sigma: float) -> np.ndarray:
    radius = max(int(math.ceil(3.0 * sigma)), 1)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def surround_luminance(luminance: tf.Tensor, sigma: float) -> tf.Tensor:
    """(B, H, W, 1) -> (B, H, W, 1) Gaussian-weighted mean, normalised by the weight inside the image
    (a border pixel's surround is the image around it, not zeros)."""
    taps = tf.constant(_gaussian_taps(sigma))
    rows, cols = tf.reshape(taps, [-1, 1, 1, 1]), tf.reshape(taps, [1, -1, 1, 1])

    def blur(x):
        return tf.nn.conv2d(tf.nn.conv2d(x, rows, 1, "SAME"), cols, 1, "SAME")

    return blur(luminance) / blur(tf.ones_like(luminance[:1]))


def pupil_weber_contrast(images: tf.Tensor, pupil_mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(B, H, W, 3) RGB [0, 255], (B, H, W) pupil mask in [0, 1] -> ((B,) the pupil's mean Weber
    contrast to its surround (negative: darker), (B,) the mask's area in px)."""
    luminance = to_luminance(images)[..., None]
    sigma = SURROUND_SIGMA_FRAC * float(images.shape[2])
    surround = surround_luminance(luminance, sigma)
    weber = ((luminance - surround) / (surround + WEBER_OFFSET))[..., 0]
    mask = tf.cast(pupil_mask, tf.float32)
    area = tf.reduce_sum(mask, axis=[1, 2])
    return tf.reduce_sum(weber * mask, axis=[1, 2]) / tf.maximum(area, 1e-6), area


def pupil_mask_of(content_masks: tf.Tensor) -> tf.Tensor:
    """(B, H, W) labels or (B, H, W, K) one-hot masks -> (B, H, W) float pupil mask."""
    if content_masks.shape.rank == 4:
        return tf.cast(content_masks[..., PUPIL], tf.float32)
    return tf.cast(tf.equal(tf.cast(content_masks, tf.int32), PUPIL), tf.float32)


def pupil_contrast_loss(contrast_out: tf.Tensor, contrast_ref: tf.Tensor, ref_area: tf.Tensor) -> tf.Tensor:
    """(B,) Weber contrasts of the outputs' and the content eyes' pupils, (B,) pupil areas -> (B,).

    The content eyes' contrasts are a target (no gradient); eyes without a pupil give 0."""
    ref = tf.stop_gradient(tf.cast(contrast_ref, tf.float32))
    lighter = tf.nn.relu(tf.cast(contrast_out, tf.float32) - ref) / PUPIL_CONTRAST_TOLERANCE
    present = tf.cast(tf.stop_gradient(ref_area) >= MIN_PUPIL_AREA_PX, tf.float32)
    return tf.square(lighter) * present
