"""Gaze CNN: DESIGN.md's layer sizes, unit output, training signal, angular error in degrees."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from purify_tf.models.gaze_cnn import AngularError, build_gaze_cnn, gaze_l2_loss
from purify_tf.vectors import angular_error_deg, pitchyaw_to_vector


def test_default_architecture_and_unit_output():
    model = build_gaze_cnn()
    assert model.get_layer("flatten").output.shape[-1] == 9600
    assert [model.get_layer(n).units for n in ("fc1", "gaze")] == [1000, 3]
    assert model.count_params() < 10_000_000  # "FC 9600" is the flattened width, not another layer
    conv_params = sum(model.get_layer(f"conv{i}").count_params() for i in range(1, 6))
    assert conv_params == 320 + 9248 + 18496 + 46160 + 138432
    x = np.random.default_rng(0).uniform(size=(2, 35, 55, 1)).astype(np.float32)
    y = model(x).numpy()
    assert y.shape == (2, 3) and y.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)


def acos_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The textbook float64 form: acos of the normalised dot product."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def test_angular_error_matches_numpy_reference():
    rng = np.random.default_rng(1)
    a = pitchyaw_to_vector(rng.uniform(-0.6, 0.6, size=(64, 2)))
    b = rng.normal(size=(64, 3)).astype(np.float32) * rng.uniform(0.1, 3, size=(64, 1))
    b[:8] = a[:8] * 2.5  # identical directions
    b[8:16] = a[8:16] + 1e-3  # tiny angles
    got = angular_error_deg(tf.constant(a), tf.constant(b)).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, acos_reference(a, b), atol=2e-3)
    on_numpy = angular_error_deg(a, b)
    assert isinstance(on_numpy, np.ndarray) and on_numpy.dtype == np.float64
    np.testing.assert_allclose(on_numpy, acos_reference(a, b), atol=1e-5)
    np.testing.assert_allclose(got[:8], 0.0, atol=1e-3)
    metric = AngularError()
    metric.update_state(a, b)
    np.testing.assert_allclose(float(metric.result()), got.mean(), rtol=1e-5)


def test_adam_steps_lower_l2_loss():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(32, 35, 55, 1)).astype(np.float32)
    y = pitchyaw_to_vector(rng.uniform(-0.5, 0.5, size=(32, 2)))
    model = build_gaze_cnn(fc_units=(128, 64))
    optimizer = keras.optimizers.Adam(1e-3)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(gaze_l2_loss(y, model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    first = float(tf.reduce_mean(gaze_l2_loss(y, model(x))))
    for _ in range(15):
        step()
    last = float(tf.reduce_mean(gaze_l2_loss(y, model(x))))
    assert last < 0.5 * first, (first, last)
