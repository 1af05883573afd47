"""Gram matrices of feature maps (paper Eq. 10-12), the style statistics of Gatys et al.

Grams are unnormalised (``G = F F^T`` with F of shape channels x positions, as DESIGN.md
writes them); the style losses apply the ``1/(4 N^2 M^2)`` normalisation themselves.
All math is float32, also when the features come from a mixed-precision network.
"""

from __future__ import annotations

import tensorflow as tf


def _as_float32(x: tf.Tensor) -> tf.Tensor:
    return tf.cast(x, tf.float32)


def _positions(features: tf.Tensor) -> tf.Tensor:
    """(B, H, W, C) -> (B, H*W, C): the positions as rows, for batched matmuls."""
    shape = tf.shape(features)
    channels = features.shape[-1] if features.shape[-1] is not None else shape[3]
    return tf.reshape(features, [shape[0], -1, channels])


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """(B, H, W, C) features -> (B, C, C) Gram matrix ``F F^T``, summed over the H*W positions.

    A batched matmul with the transpose folded in (forward and backward each about twice as
    fast on CPU as the equivalent einsum, which transposes its operands first).
    """
    x = _positions(_as_float32(features))
    return tf.linalg.matmul(x, x, transpose_a=True)


def masked_gram_matrix(features: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Gram of the masked features ``(F * S_c)(F * S_c)^T`` for one class mask.

    ``mask`` is (B, H, W) or (B, H, W, 1), soft or binary, at the features' resolution.
    """
    f = _as_float32(features)
    m = _as_float32(mask)
    if m.shape.rank == 3:
        m = m[..., tf.newaxis]
    return gram_matrix(f * m)


def class_gram_matrices(features: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
    """Masked Grams for every class at once: (B, H, W, C) x (B, H, W, K) -> (B, K, C, C).

    One matmul instead of K calls to :func:`masked_gram_matrix`; entry ``[:, k]`` equals
    ``masked_gram_matrix(features, masks[..., k])``.
    """
    x = _positions(_as_float32(features))  # (B, M, C)
    s2 = _positions(tf.square(_as_float32(masks)))  # (B, M, K)
    # Fused form of the literal masked_gram_matrix per class (tests hold them equal):
    # (F*S)(F*S)^T = sum_m S(m)^2 F(m) F(m)^T: weight one operand by S^2 instead of both by S,
    # all K classes in one matmul: (B, M, K*C)^T (B, M, C) -> (B, K*C, C).
    shape = tf.shape(x)
    weighted = tf.reshape(s2[..., :, None] * x[..., None, :], [shape[0], shape[1], -1])
    grams = tf.linalg.matmul(weighted, x, transpose_a=True)
    return tf.reshape(grams, [shape[0], tf.shape(s2)[2], shape[2], shape[2]])
