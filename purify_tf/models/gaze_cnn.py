"""Appearance-based gaze CNN of the paper's evaluation (4.2): 35x55 grayscale -> unit 3D gaze.

Layers (DESIGN.md): conv 32@3x3, conv 32@3x3, conv 64@3x3, maxpool 3x3, conv 80@3x3,
conv 192@3x3, maxpool 2x2, FC 9600, FC 1000, FC 3, ReLU after every hidden layer, trained with
an L2 (Euclidean) loss on the vector. Convs use 'valid' padding and the 3x3 max pool stride 2
(the 2x2 pool stride 2): 35x55 -> 33x53 -> 31x51 -> 29x49 -> 14x24 -> 12x22 -> 10x20 -> 5x10, so
the flattened conv output has 5*10*192 = 9600 values (the same architecture as SimGAN's gaze
estimator). "FC 9600" is read as that 9600-wide flattened layer feeding FC 1000: a further
9600-unit dense layer (``fc_units=(9600, 1000)``, still available) holds 92M of the model's 102M
parameters, against 9.8M for the default, and costs many times the fitting time (the measured
errors and times are in docs/DESIGN.md). The output is L2-normalised to a unit vector (MPIIGaze convention, see
``purify_tf.vectors``).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from purify_tf.conventions import GAZE_INPUT_SHAPE
from purify_tf.vectors import angular_error_deg


def build_gaze_cnn(
    input_shape: Sequence[int] = GAZE_INPUT_SHAPE,
    fc_units: Sequence[int] = (1000,),
    name: str = "gaze_cnn",
) -> keras.Model:
    """(B, 35, 55, 1) grayscale in [0, 1] -> (B, 3) unit gaze vectors (float32)."""
    image = keras.Input(shape=tuple(input_shape), name="eye")

    def conv(x, filters, tag):
        return keras.layers.Conv2D(
            filters, 3, padding="valid", activation="relu", name=f"conv{tag}"
        )(x)

    x = conv(image, 32, 1)
    x = conv(x, 32, 2)
    x = conv(x, 64, 3)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = conv(x, 80, 4)
    x = conv(x, 192, 5)
    x = keras.layers.MaxPooling2D(2, strides=2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(fc_units):
        x = keras.layers.Dense(units, activation="relu", name=f"fc{i + 1}")(x)
    x = keras.layers.Dense(3, name="gaze", dtype="float32")(x)
    gaze = keras.layers.UnitNormalization(axis=-1, name="unit_gaze", dtype="float32")(x)
    return keras.Model(image, gaze, name=name)


def gaze_l2_loss(y_true, y_pred) -> tf.Tensor:
    """Per-sample squared Euclidean distance between gaze vectors (B,) (= 3 x per-sample MSE)."""
    diff = tf.cast(y_pred, tf.float32) - tf.cast(y_true, tf.float32)
    return tf.reduce_sum(tf.square(diff), axis=-1)


class AngularError(keras.metrics.MeanMetricWrapper):
    """Mean angular error in degrees, as a Keras metric."""

    def __init__(self, name: str = "angular_error_deg", **kwargs):
        super().__init__(fn=angular_error_deg, name=name, **kwargs)
