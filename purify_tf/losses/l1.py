"""The pixel L1 distance to a known clean eye: the identity term (a synthetic eye through f_W
against itself) and the pixel half of the paired term (a real-domain render against its synthetic
twin, :mod:`purify_tf.losses.paired`).

One value per image (B,), the mean over its pixels, like the perceptual terms, so the trainer
averages it over the batch the same way.
"""

from __future__ import annotations

import tensorflow as tf


def l1_loss(outputs: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """Mean absolute difference of RGB [0, 255] images in units of the full range -> (B,).

    0 for a perfect match, 1 for black against white.
    """
    diff = tf.abs(tf.cast(outputs, tf.float32) - tf.cast(targets, tf.float32)) / 255.0
    return tf.reduce_mean(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)
