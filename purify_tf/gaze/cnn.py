"""Training and prediction helpers for the gaze CNN (paper 4.2; model in purify_tf.models.gaze_cnn).

The network regresses the 3D gaze vector with the L2 ("Euclidean") loss of
:mod:`purify_tf.models.gaze_cnn`, Adam at lr 1e-3 and batch 512 as in the paper. Training stops early on the *validation angular error* (degrees),
the quantity Table 3 reports, rather than on the loss, and restores the best weights.
``CNNGaze`` wraps both helpers in the common estimator interface of
:mod:`purify_tf.gaze.estimators` so that :func:`purify_tf.gaze.evaluation.evaluate_estimators`
treats the CNN like the classical estimators.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from absl import logging

from purify_tf.errors import ConfigError, DataError

ANGULAR_METRIC = "angular_error_deg"


def _as_cnn_input(X: np.ndarray) -> np.ndarray:
    x = np.asarray(X, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] != 1 or x.shape[0] == 0:
        raise DataError(
            f"gaze CNN input: expected (N, 35, 55, 1) grayscale in [0, 1], got {x.shape}"
        )
    return x


def _as_unit(gaze: np.ndarray, n: int) -> np.ndarray:
    g = np.asarray(gaze, dtype=np.float32)
    if g.shape != (n, 3):
        raise DataError(f"gaze CNN targets: expected shape ({n}, 3), got {g.shape}")
    return g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)


def train_gaze_cnn(
    train_X: np.ndarray,
    train_gaze: np.ndarray,
    epochs: int = 30,
    batch_size: int = 512,
    lr: float = 1e-3,
    val_split: float = 0.1,
    seed: int = 0,
    patience: int = 5,
    model: Any | None = None,
    verbose: int = 0,
) -> Any:
    """Train the gaze CNN on (N, 35, 55, 1) eyes and (N, 3) gaze vectors; returns the model.

    A seeded random ``val_split`` fraction is held out (Keras's own split would take the last
    samples, which are not shuffled); with ``val_split=0`` all epochs run without early
    stopping. ``model`` replaces the default ``build_gaze_cnn()`` (any Keras model mapping
    35x55x1 eyes to 3 values), e.g. to fine-tune or to test with a small stand-in.
    """
    import keras

    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError(
            f"train_gaze_cnn: need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, "
            f"{batch_size}, {lr}"
        )
    x = _as_cnn_input(train_X)
    y = _as_unit(train_gaze, x.shape[0])
    val_idx, tr_idx = _validation_split(x.shape[0], val_split, seed)

    # One definition of the L2 loss and the angular metric, shared with the model module.
    from purify_tf.models.gaze_cnn import AngularError, build_gaze_cnn, gaze_l2_loss

    keras.utils.set_random_seed(seed)
    if model is None:
        model = build_gaze_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss=gaze_l2_loss,
        metrics=[AngularError(name=ANGULAR_METRIC)],
    )
    callbacks, validation_data = [], None
    if len(val_idx):
        validation_data = (x[val_idx], y[val_idx])
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=f"val_{ANGULAR_METRIC}", mode="min", patience=patience, restore_best_weights=True,
        ))
    history = model.fit(
        x[tr_idx], y[tr_idx], batch_size=batch_size, epochs=epochs, validation_data=validation_data,
        callbacks=callbacks, shuffle=True, verbose=verbose,
    )
    key = f"val_{ANGULAR_METRIC}" if len(val_idx) else ANGULAR_METRIC
    errs = history.history.get(key, [])
    if errs:
        logging.info("gaze CNN: %d epochs, best %s %.2f deg", len(errs), key, float(np.min(errs)))
    return model


def _validation_split(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(held-out, training) indices: a seeded random ``val_split`` share held out."""
    if not 0.0 <= val_split < 1.0:
        raise ConfigError(f"train_gaze_cnn val_split: expected in [0, 1), got {val_split}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(val_split * n)) if val_split > 0 else 0
    if val_split > 0 and (n_val < 1 or n_val >= n):
        raise DataError(f"train_gaze_cnn: {n} eyes are too few for val_split={val_split}")
    return perm[:n_val], perm[n_val:]


def predict_gaze_cnn(model: Any, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Eyes -> float32 (N, 3) unit gaze vectors (renormalised whatever the model's last layer)."""
    x = _as_cnn_input(X)
    v = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    if v.shape != (x.shape[0], 3):
        raise DataError(f"gaze CNN output: expected ({x.shape[0]}, 3), got {v.shape}")
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class CNNGaze:
    """The gaze CNN behind the common estimator interface (``fit`` / ``predict`` / ``name``)."""

    name = "cnn"

    def __init__(self, model_fn: Any | None = None, **fit_options: Any):
        """``fit_options``: :func:`train_gaze_cnn`'s ``epochs``, ``batch_size``, ``lr``,
        ``val_split``, ``seed``, ``patience``; ``model_fn`` builds a stand-in model."""
        self.model_fn = model_fn
        self.fit_options = fit_options
        self.model: Any | None = None

    def fit(self, X: np.ndarray, gaze_vectors: np.ndarray) -> CNNGaze:
        model = self.model_fn() if self.model_fn is not None else None
        self.model = train_gaze_cnn(X, gaze_vectors, model=model, **self.fit_options)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("cnn: call fit() before predict()")
        return predict_gaze_cnn(self.model, X)
