"""The paired term's target: the renderer twin, exactly or with the eye's own colour moments.

A real-domain render and its synthetic twin share the eye's geometry, but the twin draws its own
skin and iris colours. Against the exact twin (``twin``) much of an L1 is that colour, which
nothing in the input predicts: the purifier is pulled to the mean colour and learns little of
what it can see (shadows, glints, blur). ``structure`` first gives the twin each channel's mean
and standard deviation of a reference (the purifier's input as the front end leaves it), so the
term asks for the twin's structure at the exposure and contrast the front end already set.
Measured on 128 renderer pairs at 48x72 (docs/DESIGN.md): L1 to the exact twin 0.22 raw, 0.18
front end; to the moment-matched twin 0.10 raw, 0.12 front end.
"""

from __future__ import annotations

import tensorflow as tf

from purify_tf.hyperparameters import PAIRED_TARGETS

MOMENT_EPSILON = 1.0  # added to the twin's std (levels of 255): a flat channel stays flat


def match_moments(images: tf.Tensor, reference: tf.Tensor) -> tf.Tensor:
    """``images`` with each image's per-channel mean and std set to ``reference``'s (N, H, W, C).

    The reference's moments carry no gradient: they are a target's, not something to optimise.
    """
    images = tf.cast(images, tf.float32)
    reference = tf.stop_gradient(tf.cast(reference, tf.float32))
    mean, var = tf.nn.moments(images, axes=[1, 2], keepdims=True)
    ref_mean, ref_var = tf.nn.moments(reference, axes=[1, 2], keepdims=True)
    return (images - mean) / (tf.sqrt(var) + MOMENT_EPSILON) * tf.sqrt(ref_var) + ref_mean


def paired_target(twins: tf.Tensor, reference: tf.Tensor, target: str = "twin") -> tf.Tensor:
    """What the paired term compares the purified eye with (see the module docstring)."""
    if target == "twin":
        return tf.cast(twins, tf.float32)
    if target == "structure":
        return match_moments(twins, reference)
    raise ValueError(f"paired_target must be one of {PAIRED_TARGETS}, got {target!r}")
