"""The frozen gaze network of the gaze-consistency term (``losses.gaze_consistency``).

A small gaze CNN (:func:`build_reader`), fitted to synthetic renderer eyes at the training size
through the term's own differentiable input conversion (``gaze_network_input``), so that during
training it reads purified eyes as it was fitted. Small because it runs three times per eye and
step (a forward and an input gradient over the purified eye, a forward over its twin): the paper's
gaze CNN made the step 1.24x slower (docs/BENCHMARKS.md). Its labels are the renderer's, never a real
eye's. It is stored beside the checkpoints (``<model_dir>/gaze_reader.keras``, atomically), so a
resumed run reads with the same network.

A second reader of another family can read beside it (``--gaze_readers=cnn+svr``):
:class:`KernelGazeReader`, the project's RBF support vector regressor (``gaze.estimators.SVRGaze``)
fitted to other synthetic renderer eyes and written out in TensorFlow, so that it is differentiable.
Why: a CNN reads local edges; a kernel regressor on whole-eye PCA features reads the global
pattern, and on real eyes it is the estimator the purifier helps least (docs/DESIGN.md, "Why SVR
loses"). The term then asks both to read the purified eye as they read its twin.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from purify_tf.hyperparameters import GAZE_READERS

READER_FILE = "gaze_reader.keras"
KERNEL_READER_FILE = "gaze_reader_svr.npz"  # the kernel reader of --gaze_readers=cnn+svr
READER_EYES = 4000  # synthetic renderer eyes it is fitted on (as the real-eye table's estimators)
READER_EPOCHS = 10  # early stopping on a held-out 10% (gaze.cnn.train_gaze_cnn)
READER_BATCH = 128
READER_SEED_OFFSET = 303  # renderer seed: other eyes than the FCN's (seed + 101, + 202) and the style set's
KERNEL_READER_SEED_OFFSET = 404  # the kernel reader's eyes: other than the CNN reader's


def build_reader() -> keras.Model:
    """(B, 35, 55, 1) gray in [0, 1] -> (B, 3) unit gaze: three stride-2 convolutions and a small
    dense head, about 5.6M multiply-adds per eye (the paper's gaze CNN: about 90M)."""
    from purify_tf.conventions import GAZE_INPUT_SHAPE

    eye = keras.Input(GAZE_INPUT_SHAPE, name="eye")
    x = eye
    for i, filters in enumerate((32, 64, 128)):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu", name=f"conv{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(3, name="gaze", dtype="float32")(x)
    gaze = keras.layers.UnitNormalization(axis=-1, name="unit_gaze", dtype="float32")(x)
    return keras.Model(eye, gaze, name="gaze_reader")


def reader_inputs(images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 or [0, 255] RGB eyes -> the reader's (N, 35, 55, 1) inputs, in batches."""
    from purify_tf.losses.gaze_consistency import gaze_network_input

    parts = [gaze_network_input(tf.constant(images[i:i + batch_size], tf.float32)).numpy()
             for i in range(0, len(images), batch_size)]
    return np.concatenate(parts, axis=0)


def load_or_train_gaze_reader(model_dir: str | os.PathLike, height: int, width: int, seed: int = 0,
                              n_eyes: int = READER_EYES, epochs: int = READER_EPOCHS) -> keras.Model:
    """The reader in ``<model_dir>/gaze_reader.keras``, or one fitted and saved there; frozen."""
    from purify_tf.atomic import atomic_path
    from purify_tf.data.renderer import render_eyes
    from purify_tf.gaze.cnn import train_gaze_cnn

    path = Path(model_dir) / READER_FILE
    if path.is_file():
        logging.info("Using the gaze reader in %s", path)
        reader = keras.models.load_model(path, compile=False)
    else:
        eyes = render_eyes(n_eyes, height, width, domain="synthetic", seed=seed + READER_SEED_OFFSET)
        reader = train_gaze_cnn(reader_inputs(eyes["image"]), eyes["gaze"], epochs=epochs,
                                batch_size=READER_BATCH, seed=seed, model=build_reader())
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            reader.save(str(tmp))
    reader.trainable = False
    return reader


class KernelGazeReader:
    """``SVRGaze``'s prediction in TensorFlow: (B, 35, 55, 1) gray in [0, 1] -> (B, 3) unit gaze.

    Rows scaled to unit length, the PCA projection, then per output (pitch, yaw) the RBF kernel
    expansion ``sum_i a_i exp(-gamma ||f - s_i||^2) + b`` on the standardised target, back to
    radians and to a unit vector: exactly what ``SVRGaze.predict`` computes, with gradients. Frozen
    (constants only)."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        c = {k: tf.constant(v, tf.float32) for k, v in self.arrays.items()}
        self._pca_mean, self._components = c["pca_mean"], c["components"]
        self._y_mean, self._y_std = c["y_mean"], c["y_std"]
        self._outputs = [(c[f"support_{j}"], c[f"coef_{j}"], c["intercept"][j], c["gamma"][j]) for j in range(2)]

    @classmethod
    def from_estimator(cls, estimator) -> KernelGazeReader:
        """The arrays of a fitted ``SVRGaze`` (PCA features, pitch/yaw target)."""
        if estimator.features.kind != "pca" or estimator.target != "pitchyaw":
            raise ValueError("KernelGazeReader reads an SVRGaze on PCA features with the pitch/yaw target")
        pca = estimator.features._pca
        arrays = {"pca_mean": pca.mean_, "components": pca.components_, "y_mean": estimator._y_mean,
                  "y_std": estimator._y_std, "intercept": np.array([m.intercept_[0] for m in estimator._models]),
                  "gamma": np.array([m._gamma for m in estimator._models])}
        for j, model in enumerate(estimator._models):
            arrays[f"support_{j}"], arrays[f"coef_{j}"] = model.support_vectors_, model.dual_coef_[0]
        return cls(arrays)

    def __call__(self, eyes: tf.Tensor, training: bool = False) -> tf.Tensor:
        flat = tf.reshape(tf.cast(eyes, tf.float32), [tf.shape(eyes)[0], -1])
        unit = flat / tf.maximum(tf.norm(flat, axis=1, keepdims=True), 1e-12)
        f = tf.linalg.matmul(unit - self._pca_mean, self._components, transpose_b=True)
        angles = []
        for support, coef, intercept, gamma in self._outputs:
            sq = (tf.reduce_sum(tf.square(f), 1, keepdims=True) - 2.0 * tf.linalg.matmul(f, support, transpose_b=True)
                  + tf.reduce_sum(tf.square(support), 1)[None])
            angles.append(tf.linalg.matvec(tf.exp(-gamma * tf.maximum(sq, 0.0)), coef) + intercept)
        pitch, yaw = tf.unstack(tf.stack(angles, axis=1) * self._y_std + self._y_mean, axis=1)
        # vectors.pitchyaw_to_vector, in TensorFlow
        v = tf.stack([-tf.cos(pitch) * tf.sin(yaw), -tf.sin(pitch), -tf.cos(pitch) * tf.cos(yaw)], axis=1)
        return tf.math.l2_normalize(v, axis=1)


class GazeReaders:
    """Several frozen readers as one: (B, 35, 55, 1) -> (B, k, 3), one unit gaze per reader (the
    gaze-consistency term averages its disagreement over them)."""

    def __init__(self, readers):
        self.readers = list(readers)

    def __call__(self, eyes: tf.Tensor, training: bool = False) -> tf.Tensor:
        return tf.stack([tf.cast(r(eyes, training=False), tf.float32) for r in self.readers], axis=1)


def load_or_fit_kernel_reader(model_dir: str | os.PathLike, height: int, width: int, seed: int = 0,
                              n_eyes: int = READER_EYES) -> KernelGazeReader:
    """The kernel reader in ``<model_dir>/gaze_reader_svr.npz``, or one fitted to synthetic renderer eyes
    (other eyes than the CNN reader's) and saved there atomically."""
    from purify_tf.atomic import atomic_path
    from purify_tf.data.renderer import render_eyes
    from purify_tf.gaze.estimators import SVRGaze

    path = Path(model_dir) / KERNEL_READER_FILE
    if path.is_file():
        logging.info("Using the kernel gaze reader in %s", path)
        with np.load(path) as data:
            return KernelGazeReader(dict(data))
    eyes = render_eyes(n_eyes, height, width, domain="synthetic", seed=seed + KERNEL_READER_SEED_OFFSET)
    reader = KernelGazeReader.from_estimator(SVRGaze(seed=seed).fit(reader_inputs(eyes["image"]), eyes["gaze"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **reader.arrays)
    return reader


def load_gaze_readers(model_dir: str | os.PathLike, height: int, width: int, seed: int = 0,
                      readers: str = "cnn"):
    """What ``--gaze_readers`` names: the CNN reader alone (a Keras model), or with the kernel reader."""
    if readers not in GAZE_READERS:
        raise ValueError(f"gaze readers must be one of {GAZE_READERS}, got {readers!r}")
    cnn = load_or_train_gaze_reader(model_dir, height, width, seed)
    if readers == "cnn":
        return cnn
    return GazeReaders([cnn, load_or_fit_kernel_reader(model_dir, height, width, seed)])
