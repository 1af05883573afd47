"""Semantic masks for the local losses: one-hot encoding and downsampling to a tap's resolution.

Label maps use 0 other, 1 iris, 2 pupil. A one-hot mask downsampled by area averaging stays a
soft partition of unity (every position's class weights sum to 1), so the local losses over all
classes cover the image exactly once, and a class present anywhere at full resolution keeps a
non-zero area at every layer.
"""

from __future__ import annotations

import tensorflow as tf

from purify_tf.conventions import NUM_CLASSES


def one_hot_masks(labels: tf.Tensor, num_classes: int = NUM_CLASSES) -> tf.Tensor:
    """(B, H, W) integer labels -> (B, H, W, num_classes) float32 one-hot masks."""
    return tf.one_hot(tf.cast(labels, tf.int32), num_classes, dtype=tf.float32)


def downsample_masks(one_hot: tf.Tensor, target_hw, stride: int | None = None) -> tf.Tensor:
    """Average one-hot (B, H, W, K) masks down to ``target_hw`` = (h, w).

    With ``stride`` (a VGG tap's 2^(block-1)) this is ``stride x stride`` average pooling with
    'VALID' padding: exactly the feature map's floor-halved size, identical to averaging 2x2 at each
    of VGG's pooling steps, and XLA-compilable (DESIGN.md's average pooling). Without it, area
    resampling to ``target_hw`` (the same for integer factors, the area-weighted generalisation
    otherwise; not XLA-compilable). ``target_hw`` may hold tensors (dynamic shapes).
    """
    masks = tf.cast(one_hot, tf.float32)
    if stride is not None:
        if stride == 1:
            return masks
        return tf.nn.avg_pool2d(masks, ksize=stride, strides=stride, padding="VALID")
    size = tf.stack([tf.cast(target_hw[0], tf.int32), tf.cast(target_hw[1], tf.int32)])
    return tf.image.resize(masks, size, method="area")


def mask_areas(masks: tf.Tensor) -> tf.Tensor:
    """(B, h, w, K) soft masks -> (B, K) areas ``M_c = sum_m S_c(m)^2`` at that resolution.

    The masked Gram ``G_c = (F S_c)(F S_c)^T = sum_m S_c(m)^2 F(m) F(m)^T`` weighs every position
    by ``S_c^2``, so its area is the sum of the same weights: ``G_c / M_c`` is then a weighted
    *mean* of ``F F^T``, whatever the mask's softness. With hard masks (0 or 1) this is the
    pixel count of the paper; for the soft masks of average-pooled layers it replaces
    ``sum(S_c)``, which weighed boundaries twice as much in the area as in the Gram.
    """
    m = tf.cast(masks, tf.float32)
    return tf.reduce_sum(tf.square(m), axis=[1, 2])
