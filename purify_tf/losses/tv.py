"""Total-variation regulariser TV(O) of the total objective (paper Eq. 18-19).

Defined as in Johnson et al. / Gatys et al. implementations: the per-image *sum of squared*
differences between vertically and horizontally neighbouring pixels over all channels,
unnormalised, on the [0, 255] pixel scale (which is why theta is as small as 1e-6).
"""

from __future__ import annotations

import tensorflow as tf


def total_variation_loss(images: tf.Tensor) -> tf.Tensor:
    """(B, H, W, C) images -> (B,) sum of squared neighbour differences per image."""
    x = tf.cast(images, tf.float32)
    dy = x[:, 1:, :, :] - x[:, :-1, :, :]
    dx = x[:, :, 1:, :] - x[:, :, :-1, :]
    return tf.reduce_sum(tf.square(dy), axis=[1, 2, 3]) + tf.reduce_sum(
        tf.square(dx), axis=[1, 2, 3]
    )
