"""Style losses on Gram matrices, paper Eq. 13-14.

DESIGN.md: ``l_gs = 1/(4 N^2 M^2) * sum (G[O] - G[S])^2`` and
``l_ls = sum_c 1/(4 N^2 M_c^2) * sum (G_c[O] - G_c[S])^2`` with ``G_c[O]`` the Gram of the output
features masked by the *content* mask S_c[I] and ``G_c[S]`` the Gram of the style features masked
by the style mask S_c[S]; M_c is the class's mask area at that layer, ``sum S_c^2`` (the weights
the masked Gram gives its positions; see :func:`purify_tf.losses.masks.mask_areas`).

The style image may differ in size from the output, and a class's area generally differs
between the content and the style image, so each Gram is normalised by its own number of
positions (area) before the difference:
``l_gs = 1/(4 N^2) * sum (G[O]/M_O - G[S]/M_S)^2`` and
``l_ls = sum_c 1/(4 N^2) * sum (G_c[O]/M_c[I] - G_c[S]/M_c[S])^2``.
When the sizes (areas) are equal this is exactly DESIGN.md's formula. A class whose area is
zero in the content or in the style image adds exactly 0; divisions are guarded so that values
and gradients stay finite.
"""

from __future__ import annotations

import tensorflow as tf

from purify_tf.losses.gram import class_gram_matrices, gram_matrix
from purify_tf.losses.masks import mask_areas

# Areas at or below this (in positions of the layer) count as an absent class.
AREA_EPS = 1e-6


def _num_channels(features: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.shape(features)[3], tf.float32)


def _num_positions(features: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(features)
    return tf.cast(shape[1] * shape[2], tf.float32)


def global_style_loss(
    features_out: tf.Tensor, gram_style: tf.Tensor, positions_style=None
) -> tf.Tensor:
    """(B, H, W, C) output features vs the style Gram (1 or B, C, C) -> (B,) per image.

    ``positions_style`` is the style feature map's H*W (scalar or (1|B,)); None means the same
    size as the output.
    """
    fo = tf.cast(features_out, tf.float32)
    m_out = _num_positions(fo)
    m_style = m_out if positions_style is None else tf.cast(positions_style, tf.float32)
    m_style = tf.reshape(m_style, [-1, 1, 1])
    diff = gram_matrix(fo) / m_out - tf.cast(gram_style, tf.float32) / m_style
    n = _num_channels(fo)
    return tf.reduce_sum(tf.square(diff), axis=[1, 2]) / (4.0 * n * n)


def local_style_loss(
    features_out: tf.Tensor,
    content_masks: tf.Tensor,
    style_class_grams: tf.Tensor,
    style_areas: tf.Tensor,
) -> tf.Tensor:
    """Masked style loss summed over classes -> (B,).

    Args:
      features_out: (B, H, W, C) output features at one layer.
      content_masks: (B, H, W, K) content masks S[I] at that layer's resolution.
      style_class_grams: (1|B, K, C, C) masked style Grams G_c[S] (unnormalised).
      style_areas: (1|B, K) style mask areas M_c[S] at that layer.
    """
    fo = tf.cast(features_out, tf.float32)
    masks = tf.cast(content_masks, tf.float32)
    grams_out = class_gram_matrices(fo, masks)  # (B, K, C, C)
    areas_out = mask_areas(masks)  # (B, K)
    areas_style = tf.cast(style_areas, tf.float32)
    present = tf.logical_and(areas_out > AREA_EPS, areas_style > AREA_EPS)  # (B, K)
    safe_out = tf.where(present, areas_out, tf.ones_like(areas_out))
    safe_style = tf.where(present, areas_style, tf.ones_like(areas_out))
    diff = (
        grams_out / safe_out[..., tf.newaxis, tf.newaxis]
        - tf.cast(style_class_grams, tf.float32) / safe_style[..., tf.newaxis, tf.newaxis]
    )
    n = _num_channels(fo)
    per_class = tf.reduce_sum(tf.square(diff), axis=[2, 3]) / (4.0 * n * n)
    per_class = tf.where(present, per_class, tf.zeros_like(per_class))
    return tf.reduce_sum(per_class, axis=1)
