"""Gaze consistency (FP-GAN's term; not in the paper): a frozen gaze network trained on synthetic
eyes reads the purified eye and its exact synthetic twin, and the term is their disagreement.

Why: the perceptual terms keep VGG features and the paired term pixels, but none asks for what
the product is for, that an estimator trained on synthetic eyes reads the purified eye's gaze
where it reads the synthetic twin's. Only the renderer's twins enter (their gaze is the
renderer's, a synthetic label); no real eye's gaze label does.

``l_gaze = ||g(O) - g(T)||^2 / (2 sin(GAZE_TOLERANCE_DEG / 2))^2`` per image, with g's unit gaze
vectors: the squared chord between the two directions, 1 at a disagreement of
``GAZE_TOLERANCE_DEG`` (about (angle / tolerance)^2 for small angles).
"""

from __future__ import annotations

import math

import tensorflow as tf

from purify_tf.conventions import GAZE_SIZE, LUMA

GAZE_TOLERANCE_DEG = 5.0  # the disagreement at which the term is 1


def gaze_network_input(images: tf.Tensor) -> tf.Tensor:
    """(B, H, W, 3) RGB [0, 255] -> (B, 35, 55, 1) gray in [0, 1], differentiably.

    The same conversion as ``to_gaze_input`` but an antialiased bilinear resize instead of area
    averaging (TensorFlow's area resize has no gradient): the frozen network is trained on this
    function's output, so it reads in training what it was fitted on.
    """
    x = tf.cast(images, tf.float32)
    gray = tf.reduce_sum(x * tf.constant(LUMA, tf.float32), axis=-1, keepdims=True)
    gray = tf.image.resize(gray, GAZE_SIZE, method="bilinear", antialias=True)
    return tf.clip_by_value(gray / 255.0, 0.0, 1.0)


def gaze_consistency_loss(gaze_out: tf.Tensor, gaze_twin: tf.Tensor) -> tf.Tensor:
    """(B, 3) gaze read on the outputs and on their twins -> (B,) (see the module docstring); with
    several readers, (B, k, 3) each -> (B,) the mean over the readers.

    Both are renormalised to unit length; the twins' reading is a target (no gradient)."""
    out = tf.math.l2_normalize(tf.cast(gaze_out, tf.float32), axis=-1)
    twin = tf.stop_gradient(tf.math.l2_normalize(tf.cast(gaze_twin, tf.float32), axis=-1))
    chord = 2.0 * math.sin(math.radians(GAZE_TOLERANCE_DEG) / 2.0)
    per_reader = tf.reduce_sum(tf.square(out - twin), axis=-1) / (chord * chord)
    return per_reader if per_reader.shape.rank == 1 else tf.reduce_mean(per_reader, axis=-1)
