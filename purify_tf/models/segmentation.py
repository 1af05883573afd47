"""Coarse eye segmentation (paper 3.1): a small FCN-8s-style network and the orphan-label rule.

The masks only steer the local losses, so they need not be pixel-accurate; what matters is
that every eye with a visible iris also has a pupil inside it, which the orphan-label rule
enforces after the argmax.

Classes: 0 other, 1 iris, 2 pupil (the pupil lies inside the iris).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from purify_tf.conventions import IRIS, NUM_CLASSES, OTHER, PUPIL

__all__ = ["IRIS", "NUM_CLASSES", "OTHER", "PUPIL", "build_fcn", "orphan_label_fix", "predict_masks"]
STRIDE = 8  # the FCN's deepest downsampling: inputs must be multiples of it


# --------------------------------------------------------------------------- the network


def _conv_block(x, filters: int, convs: int, name: str, dilation: int = 1):
    for i in range(convs):
        x = keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            dilation_rate=dilation,
            activation="relu",
            kernel_initializer="he_normal",
            name=f"{name}_conv{i + 1}",
        )(x)
    return x


def build_fcn(
    num_classes: int = NUM_CLASSES, base_filters: int = 16, name: str = "fcn"
) -> keras.Model:
    """FCN-8s-style segmenter: (B, H, W, 3) RGB [0, 255] -> (B, H, W, num_classes) logits.

    Encoder: conv blocks of base, 2x, 4x filters each followed by 2x2 max pooling (down to
    /8), then a dilated context block at /8. Decoder: class scores at /8 upsampled by
    stride-2 transposed convs and added to 1x1 score layers of the /4 and /2 pooled features
    (the FCN skips), then upsampled to full resolution. H and W must be multiples of 8 (see
    :func:`predict_masks` for other sizes); both may be dynamic.
    """
    f = base_filters
    image = keras.Input(shape=(None, None, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(image)
    x = _conv_block(x, f, 2, "block1")
    pool2 = keras.layers.MaxPooling2D(2, name="pool1")(x)  # /2
    x = _conv_block(pool2, 2 * f, 2, "block2")
    pool4 = keras.layers.MaxPooling2D(2, name="pool2")(x)  # /4
    x = _conv_block(pool4, 4 * f, 2, "block3")
    pool8 = keras.layers.MaxPooling2D(2, name="pool3")(x)  # /8
    x = _conv_block(pool8, 8 * f, 2, "context", dilation=2)

    def up(t, tag):
        return keras.layers.Conv2DTranspose(
            num_classes, 4, strides=2, padding="same", name=f"upsample_{tag}"
        )(t)

    score8 = keras.layers.Conv2D(num_classes, 1, name="score_8")(x)
    score4 = keras.layers.Conv2D(num_classes, 1, name="score_4")(pool4)
    score2 = keras.layers.Conv2D(num_classes, 1, name="score_2")(pool2)
    fused4 = keras.layers.Add(name="fuse_4")([up(score8, "8to4"), score4])
    fused2 = keras.layers.Add(name="fuse_2")([up(fused4, "4to2"), score2])
    logits = up(fused2, "2to1")
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(image, logits, name=name)


def predict_masks(
    model: keras.Model, images, fix_orphans: bool = True, radius_fraction: float = 0.5
) -> tf.Tensor:
    """Label maps (B, H, W) int32 of images of any size ((B,) H, W, 3, uint8 or float [0, 255]).

    Images are reflect-padded at the bottom/right to a multiple of 8 (so H, W >= 8 unless
    already multiples), segmented, cropped back, arg-maxed and passed through
    :func:`orphan_label_fix`. Graph-friendly (dynamic shapes).
    """
    x = tf.convert_to_tensor(images)
    single = x.shape.rank == 3
    if single:
        x = x[tf.newaxis]
    x = tf.cast(x, tf.float32)
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    pad_h = (-h) % STRIDE
    pad_w = (-w) % STRIDE
    x = tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT")
    logits = model(x, training=False)[:, :h, :w, :]
    masks = tf.argmax(logits, axis=-1, output_type=tf.int32)
    if fix_orphans:
        masks = orphan_label_fix(masks, radius_fraction)
    return masks[0] if single else masks


# --------------------------------------------------------------------------- orphan labels
#
# The rule, per image, with I = iris pixels (label 1), P = pupil pixels (label 2), R = I u P,
# pixel centres at integer (y, x) and centroids the means of pixel coordinates:
#   * it applies only when the iris is present (|I| > 0);
#   * the pupil is an orphan when it is absent (|P| = 0) or lies *outside the iris*, which
#     means either (a) the pixel nearest the pupil centroid (coordinates rounded half up) is
#     not in R, i.e. the centroid falls on "other" (a split or ring-shaped pupil), or (b) the
#     pupil centroid is farther from the iris centroid than R's equivalent radius
#     sqrt(|R| / pi) (a dark blob away from the iris, e.g. eyelashes or a shadow);
#   * then the old pupil pixels become iris where they lie within sqrt(|R| / pi) of the iris
#     centroid and "other" elsewhere, and a pupil disc is drawn (over any label) at the iris
#     centroid: pixels with distance <= radius_fraction * sqrt(|I| / pi), always including the
#     pixel nearest the centroid, so that every image with an iris ends with a pupil.
# Images without iris, and images whose pupil is inside the iris, are returned unchanged.
# One TF implementation in float64 serves NumPy callers, tf.function and tf.data alike.


def _orphan_label_fix(masks, radius_fraction: float) -> tf.Tensor:
    masks = tf.convert_to_tensor(masks)
    if masks.shape.rank not in (2, 3):
        raise ValueError(f"orphan_label_fix: expected (H, W) or (B, H, W) labels, got {masks.shape}")
    dtype = masks.dtype
    single = masks.shape.rank == 2
    m = tf.cast(masks[tf.newaxis] if single else masks, tf.int32)
    f64 = tf.float64
    h, w = tf.shape(m)[1], tf.shape(m)[2]
    yy = tf.cast(tf.range(h), f64)[tf.newaxis, :, tf.newaxis]
    xx = tf.cast(tf.range(w), f64)[tf.newaxis, tf.newaxis, :]
    iris = tf.cast(tf.equal(m, IRIS), f64)
    pupil = tf.cast(tf.equal(m, PUPIL), f64)
    region = iris + pupil
    n_iris = tf.reduce_sum(iris, axis=[1, 2])
    n_pupil = tf.reduce_sum(pupil, axis=[1, 2])
    n_region = n_iris + n_pupil
    safe_iris = tf.maximum(n_iris, 1.0)
    safe_pupil = tf.maximum(n_pupil, 1.0)
    cy_i = tf.reduce_sum(iris * yy, axis=[1, 2]) / safe_iris
    cx_i = tf.reduce_sum(iris * xx, axis=[1, 2]) / safe_iris
    cy_p = tf.reduce_sum(pupil * yy, axis=[1, 2]) / safe_pupil
    cx_p = tf.reduce_sum(pupil * xx, axis=[1, 2]) / safe_pupil

    def expand(v):
        return v[:, tf.newaxis, tf.newaxis]

    at_pupil_centroid = tf.logical_and(
        tf.equal(yy, expand(tf.floor(cy_p + 0.5))), tf.equal(xx, expand(tf.floor(cx_p + 0.5)))
    )
    centroid_in_region = tf.reduce_any(tf.logical_and(at_pupil_centroid, region > 0), axis=[1, 2])
    r2_region = n_region / math.pi
    far = tf.square(cy_p - cy_i) + tf.square(cx_p - cx_i) > r2_region
    orphan = tf.logical_or(
        tf.logical_or(tf.equal(n_pupil, 0.0), tf.logical_not(centroid_in_region)), far
    )
    apply = tf.logical_and(n_iris > 0, orphan)
    d2 = tf.square(yy - expand(cy_i)) + tf.square(xx - expand(cx_i))
    r2_disc = (float(radius_fraction) ** 2) * n_iris / math.pi
    nearest = tf.logical_and(
        tf.equal(yy, expand(tf.floor(cy_i + 0.5))), tf.equal(xx, expand(tf.floor(cx_i + 0.5)))
    )
    disc = tf.logical_or(d2 <= expand(r2_disc), nearest)
    relabelled = tf.where(
        tf.equal(m, PUPIL),
        tf.where(d2 <= expand(r2_region), IRIS, OTHER),
        m,
    )
    fixed = tf.where(disc, PUPIL, relabelled)
    out = tf.cast(tf.where(expand(apply), fixed, m), dtype)
    return out[0] if single else out


def orphan_label_fix(masks, radius_fraction: float = 0.5):
    """The orphan-label rule on (H, W) or (B, H, W) label maps; keeps the input's dtype.

    One implementation for every caller: NumPy arrays in give NumPy arrays out (computed
    eagerly), tensors give tensors, and inside ``tf.function`` or ``tf.data.Dataset.map`` it is
    plain graph code with dynamic shapes.
    """
    if isinstance(masks, (tf.Tensor, tf.Variable)):
        return _orphan_label_fix(masks, radius_fraction)
    return _orphan_label_fix(np.asarray(masks), radius_fraction).numpy()
