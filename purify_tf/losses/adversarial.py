"""Least-squares GAN losses (Mao et al. 2017) on per-patch critic scores (the pixel L1 of the
identity and paired terms is :mod:`purify_tf.losses.l1`).

Why least squares: the sigmoid cross-entropy of the original GAN saturates once the critic
separates the domains, and the purifier then gets no gradient; the squared distance to the
target keeps pulling purified patches that the critic scores far from "synthetic". Every
function returns one value per image (B,), the mean over its patches, like the
perceptual terms, so the trainer averages them over the batch the same way.
"""

from __future__ import annotations

import tensorflow as tf

SYNTHETIC_LABEL = 1.0  # the critic's target for synthetic eyes ("real" in GAN terms)
PURIFIED_LABEL = 0.0  # and for purified ones ("fake")


def _per_image_mean(x: tf.Tensor) -> tf.Tensor:
    x = tf.cast(x, tf.float32)
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def lsgan_critic_loss(synthetic_scores: tf.Tensor, purified_scores: tf.Tensor) -> tf.Tensor:
    """``1/2 (D(x_syn) - 1)^2 + 1/2 D(f(x))^2`` per image pair, each the mean over patches -> (B,)."""
    return 0.5 * (_per_image_mean(tf.square(tf.cast(synthetic_scores, tf.float32) - SYNTHETIC_LABEL))
                  + _per_image_mean(tf.square(tf.cast(purified_scores, tf.float32) - PURIFIED_LABEL)))


def lsgan_generator_loss(purified_scores: tf.Tensor) -> tf.Tensor:
    """``1/2 (D(f(x)) - 1)^2``, the mean over patches -> (B,): purified patches scored synthetic."""
    return 0.5 * _per_image_mean(tf.square(tf.cast(purified_scores, tf.float32) - SYNTHETIC_LABEL))

