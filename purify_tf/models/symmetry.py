"""A flip-symmetric purifier: f_W's residual averaged with its mirror image's.

An eye purifier has no reason to prefer left over right: mirrored eyes (a left eye flipped looks
like a right one) should be purified into mirrored eyes. A trained f_W need not be: on real
MPIIGaze eyes the shipped one moves the pupil (the darkest-blob detector, median) about a quarter
pixel right and a third of a pixel up on left eyes and on flipped right eyes alike, and a
synthetic-trained estimator reads a quarter pixel as about a degree of yaw (docs/DESIGN.md, "The
flipped right eyes"). Averaging the residual computed on the eye with the one computed on its
mirror image (and mirrored back) makes the network exactly equivariant to a horizontal flip,
cancels a horizontal move that does not depend on which side the eye's inner corner is on, and
keeps everything the two passes agree on. A vertical move survives (a flip cannot see it).

The front end runs once, on the eye as given: its centre is a statistic of the eyes being purified
(left eyes, or right eyes flipped to look like them), so mirroring it would pull the mirrored pass
towards the wrong eye's mean map. Costs one more pass of the network per eye.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import layers

from purify_tf.errors import ConfigError
from purify_tf.models.illumination import IlluminationNormalization
from purify_tf.models.transformer import (
    NETWORK_INPUT_LAYER as NETWORK_INPUT,
)
from purify_tf.models.transformer import (
    NETWORK_OUTPUT_LAYER as NETWORK_OUTPUT,
)
from purify_tf.models.transformer import (
    RESIDUAL_OUTPUT_LAYER,
    ResidualOutput,
)

_PACKAGE = "purify_tf"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class HorizontalFlip(layers.Layer):
    """(B, H, W, C) -> the same, columns reversed."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.reverse(inputs, axis=[2])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)


def is_flip_symmetric(model: keras.Model) -> bool:
    """Whether ``model`` was built by :func:`flip_symmetric` (its residual is the mirror average)."""
    return any(isinstance(layer, HorizontalFlip) for layer in model.layers)


def flip_symmetric(model: keras.Model) -> keras.Model:
    """A purifier with ``model``'s weights (shared, not copied) whose residual is
    ``(r(x) + flip(r(flip(x)))) / 2`` for the front end's output ``x``: equivariant to a horizontal
    flip of the eye. Needs a residual transformer (``build_transformer(residual=True)``) without
    ``raw_beside``; raises ConfigError otherwise."""
    if is_flip_symmetric(model):
        raise ConfigError(f"{model.name} is already flip-symmetric")
    names = {layer.name for layer in model.layers}
    if RESIDUAL_OUTPUT_LAYER not in names or NETWORK_OUTPUT not in names or NETWORK_INPUT not in names:
        raise ConfigError(f"{model.name}: a flip-symmetric purifier needs a residual transformer "
                          f"(layers {NETWORK_INPUT!r} ... {NETWORK_OUTPUT!r} -> {RESIDUAL_OUTPUT_LAYER!r})")
    if "raw_beside" in names:
        raise ConfigError(f"{model.name}: flip symmetry of a raw_beside transformer is not supported (the raw eye "
                          "beside the front end's output would need mirroring too)")
    network = keras.Model(model.get_layer(NETWORK_INPUT).input, model.get_layer(NETWORK_OUTPUT).output,
                          name="f_w_residual")
    front = [layer for layer in model.layers if isinstance(layer, IlluminationNormalization)]
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    base = front[0](inputs) if front else inputs
    residual = network(base)
    mirrored = HorizontalFlip(name="unflip")(network(HorizontalFlip(name="flip")(base)))
    averaged = layers.Average(name="mirror_average", dtype="float32")([residual, mirrored])
    outputs = ResidualOutput(name=RESIDUAL_OUTPUT_LAYER)([base, averaged])
    return keras.Model(inputs, outputs, name=f"{model.name}_flip_symmetric")


def describe(model: Any) -> str:
    """One phrase for cards and logs."""
    return "flip-symmetric (residual averaged with its mirror's)" if is_flip_symmetric(model) else "as trained"
