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

NUM_CLASSES = 3
OTHER, IRIS, PUPIL = 0, 1, 2
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
    :func:`orphan_label_fix_tf`. Graph-friendly (dynamic shapes).
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
        masks = orphan_label_fix_tf(masks, radius_fraction)
    return masks[0] if single else masks


# Graph-mode name: ``predict_masks`` is already pure TF (usable inside ``tf.function``).
predict_masks_tf = predict_masks


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
# The NumPy and TF versions compute in float64 with the same operations, so they agree.


def _pupil_fix_np(masks: np.ndarray, radius_fraction: float) -> np.ndarray:
    m = masks.astype(np.int64)
    _, h, w = m.shape
    yy = np.arange(h, dtype=np.float64)[None, :, None]
    xx = np.arange(w, dtype=np.float64)[None, None, :]
    iris = (m == IRIS).astype(np.float64)
    pupil = (m == PUPIL).astype(np.float64)
    region = iris + pupil
    n_iris = iris.sum(axis=(1, 2))
    n_pupil = pupil.sum(axis=(1, 2))
    n_region = n_iris + n_pupil
    safe_iris = np.maximum(n_iris, 1.0)
    safe_pupil = np.maximum(n_pupil, 1.0)
    cy_i = (iris * yy).sum(axis=(1, 2)) / safe_iris
    cx_i = (iris * xx).sum(axis=(1, 2)) / safe_iris
    cy_p = (pupil * yy).sum(axis=(1, 2)) / safe_pupil
    cx_p = (pupil * xx).sum(axis=(1, 2)) / safe_pupil
    at_pupil_centroid = (yy == np.floor(cy_p + 0.5)[:, None, None]) & (
        xx == np.floor(cx_p + 0.5)[:, None, None]
    )
    centroid_in_region = np.any(at_pupil_centroid & (region > 0), axis=(1, 2))
    r2_region = n_region / math.pi
    far = (cy_p - cy_i) ** 2 + (cx_p - cx_i) ** 2 > r2_region
    orphan = (n_pupil == 0) | ~centroid_in_region | far
    apply = (n_iris > 0) & orphan
    d2 = (yy - cy_i[:, None, None]) ** 2 + (xx - cx_i[:, None, None]) ** 2
    r2_disc = (radius_fraction**2) * n_iris / math.pi
    nearest = (yy == np.floor(cy_i + 0.5)[:, None, None]) & (
        xx == np.floor(cx_i + 0.5)[:, None, None]
    )
    disc = (d2 <= r2_disc[:, None, None]) | nearest
    relabelled = np.where(m == PUPIL, np.where(d2 <= r2_region[:, None, None], IRIS, OTHER), m)
    fixed = np.where(disc, PUPIL, relabelled)
    return np.where(apply[:, None, None], fixed, m)


def orphan_label_fix_np(masks, radius_fraction: float = 0.5) -> np.ndarray:
    """NumPy orphan-label rule on (H, W) or (B, H, W) label maps; returns the input's dtype."""
    arr = np.asarray(masks)
    single = arr.ndim == 2
    batch = arr[None] if single else arr
    if batch.ndim != 3:
        raise ValueError(f"orphan_label_fix: expected (H, W) or (B, H, W) labels, got {arr.shape}")
    out = _pupil_fix_np(batch, float(radius_fraction)).astype(arr.dtype)
    return out[0] if single else out


def orphan_label_fix_tf(masks, radius_fraction: float = 0.5) -> tf.Tensor:
    """TF orphan-label rule (graph-friendly, e.g. inside ``tf.data``); same dtype as input."""
    masks = tf.convert_to_tensor(masks)
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
    """The orphan-label rule on NumPy arrays (returns NumPy) or tensors (returns a tensor)."""
    if isinstance(masks, (tf.Tensor, tf.Variable)):
        return orphan_label_fix_tf(masks, radius_fraction)
    return orphan_label_fix_np(masks, radius_fraction)
