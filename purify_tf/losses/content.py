"""Feature-reconstruction (content) losses, paper Eq. 8-9.

With features F of N channels at M = H*W positions:
``l_gc = 1/(2NM) * sum (F[O] - F[I])^2`` and
``l_lc = sum_c 1/(2NM) * sum (F[O]*S_c[I] - F[I]*S_c[I])^2``, both per image, float32.
The fused :func:`local_content_loss` weighs each position once by ``sum_c S_c^2``;
:func:`local_content_loss_eq9` is the literal per-class form. With hard masks that partition the
image, ``sum_c S_c^2 = 1`` and the local term equals the global one *at the same layer* (the
paper's taps differ: block3_conv2 global, block4_conv2 local); soft masks weigh class borders less.
The local term restricts the comparison to each semantic region of the content image (the
output shares the content's layout); a class absent from the image contributes 0 naturally.
"""

from __future__ import annotations

import tensorflow as tf


def _norm_2nm(features: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(features)
    n = tf.cast(shape[3], tf.float32)
    m = tf.cast(shape[1] * shape[2], tf.float32)
    return 2.0 * n * m


def global_content_loss(features_out: tf.Tensor, features_in: tf.Tensor) -> tf.Tensor:
    """(B, H, W, C) output and content features -> (B,) global content loss per image."""
    fo = tf.cast(features_out, tf.float32)
    fi = tf.cast(features_in, tf.float32)
    return tf.reduce_sum(tf.square(fo - fi), axis=[1, 2, 3]) / _norm_2nm(fo)


def local_content_loss(
    features_out: tf.Tensor, features_in: tf.Tensor, content_masks: tf.Tensor
) -> tf.Tensor:
    """Masked content loss summed over classes -> (B,).

    ``content_masks`` are the content image's one-hot masks S[I] (B, H, W, K) already at the
    features' resolution (see :func:`purify_tf.losses.masks.downsample_masks`).
    """
    fo = tf.cast(features_out, tf.float32)
    fi = tf.cast(features_in, tf.float32)
    s2 = tf.square(tf.cast(content_masks, tf.float32))  # (B, H, W, K)
    # sum_c sum_{m,ch} (S_c(m) (Fo - Fi))^2 = sum_m (sum_c S_c(m)^2) * sum_ch (Fo - Fi)^2
    per_position = tf.reduce_sum(tf.square(fo - fi), axis=3)  # (B, H, W)
    weighted = per_position * tf.reduce_sum(s2, axis=3)
    return tf.reduce_sum(weighted, axis=[1, 2]) / _norm_2nm(fo)


def local_content_loss_eq9(
    features_out: tf.Tensor, features_in: tf.Tensor, content_masks: tf.Tensor
) -> tf.Tensor:
    """Eq. 9 as the paper writes it, one class at a time: ``sum_c 1/(2NM) sum (F[O] S_c - F[I] S_c)^2``.

    The reference for the fused :func:`local_content_loss` (the tests hold them equal); K
    passes over the features instead of one.
    """
    fo = tf.cast(features_out, tf.float32)
    fi = tf.cast(features_in, tf.float32)
    masks = tf.cast(content_masks, tf.float32)
    total = tf.zeros(tf.shape(fo)[:1], tf.float32)
    for c in range(masks.shape[-1]):
        s_c = masks[..., c : c + 1]
        total += tf.reduce_sum(tf.square(fo * s_c - fi * s_c), axis=[1, 2, 3])
    return total / _norm_2nm(fo)
