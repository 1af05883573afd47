"""Pupil shift with a dead zone (not in the paper): the coarse FCN's soft pupil centre on f_W's
output against the same centre on the content eye, penalised only beyond ``PUPIL_DEAD_ZONE_PX``.

Why: the gaze label of a real eye is where its pupil is. The perceptual and paired terms keep
features and pixels, and the gaze-consistency term asks that a synthetic-trained reader reads the
purified eye as it reads the twin; none forbids moving the pupil a little to please that reader.
A dead zone of about a pixel leaves the network free to redraw the pupil's edge (sharper, darker,
the glint gone) and forbids moving its centre further than the detectors can tell apart.

The centre is the pupil probability's centroid (``soft_pupil_centre``): differentiable and, with
the same FCN on both sides, biased the same way on the output and the content eye, so the bias
cancels in their difference. An eye where the FCN finds less than ``MIN_PUPIL_AREA_PX`` of pupil
on the content eye (closed, out of the crop) contributes 0.

``l_pupil = max(0, ||c(O) - c(I)|| - dead_zone)^2`` per image, in pixels of the training image.
"""

from __future__ import annotations

import tensorflow as tf

from purify_tf.conventions import PUPIL

PUPIL_DEAD_ZONE_PX = 1.0  # centre shifts up to this (px of the training image) cost nothing
MIN_PUPIL_AREA_PX = 4.0  # pupil probability mass below which a content eye has no pupil to keep


def soft_pupil_centre(logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(B, H, W, K) FCN logits -> ((B, 2) (x, y) centroid of the pupil probability, (B,) its mass in px)."""
    p = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)[..., PUPIL]  # (B, H, W)
    h, w = tf.shape(p)[1], tf.shape(p)[2]
    ys = tf.cast(tf.range(h), tf.float32)
    xs = tf.cast(tf.range(w), tf.float32)
    mass = tf.reduce_sum(p, axis=[1, 2])
    safe = tf.maximum(mass, 1e-6)
    cx = tf.reduce_sum(p * xs[None, None, :], axis=[1, 2]) / safe
    cy = tf.reduce_sum(p * ys[None, :, None], axis=[1, 2]) / safe
    return tf.stack([cx, cy], axis=-1), mass


def pupil_shift_loss(centre_out: tf.Tensor, centre_ref: tf.Tensor, ref_mass: tf.Tensor,
                     dead_zone: float = PUPIL_DEAD_ZONE_PX) -> tf.Tensor:
    """(B, 2) centres on the outputs and on the content eyes, (B,) the content eyes' pupil mass -> (B,).

    The content eyes' centres are a target (no gradient); eyes without a pupil give 0."""
    ref = tf.stop_gradient(tf.cast(centre_ref, tf.float32))
    d = tf.sqrt(tf.reduce_sum(tf.square(tf.cast(centre_out, tf.float32) - ref), axis=-1) + 1e-12)
    present = tf.cast(tf.stop_gradient(ref_mass) >= MIN_PUPIL_AREA_PX, tf.float32)
    return tf.square(tf.nn.relu(d - dead_zone)) * present
