"""The luminance-prior loss: how far an image's low-frequency illumination is from the synthetic set's.

Gram statistics are blind to where an image is dark; this term sees shadows, light gradients
and exposure through the coarse log-luminance map and its Gaussian prior
(:mod:`purify_tf.luminance_prior`, shared with the illumination front end).
"""

from __future__ import annotations

import tensorflow as tf

from purify_tf.luminance_prior import LuminancePrior, coarse_log_luminance


def luminance_prior_loss(images: tf.Tensor, prior: LuminancePrior) -> tf.Tensor:
    """(B,) Mahalanobis distance of each image's coarse log-luminance map under ``prior``, per cell.

    ``d = (m - mu)^T P (m - mu) / D``; about 1 for eyes drawn from the prior's own set.
    """
    m = coarse_log_luminance(images, prior.grid)
    diff = m - tf.constant(prior.mean, tf.float32)
    quad = tf.einsum("bi,ij,bj->b", diff, tf.constant(prior.precision, tf.float32), diff)
    return quad / float(prior.mean.shape[0])
