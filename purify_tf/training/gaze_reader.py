"""The frozen gaze network of the gaze-consistency term (``losses.gaze_consistency``).

A small gaze CNN (:func:`build_reader`), fitted to synthetic renderer eyes at the training size
through the term's own differentiable input conversion (``gaze_network_input``), so that during
training it reads purified eyes as it was fitted. Small because it runs three times per eye and
step (a forward and an input gradient over the purified eye, a forward over its twin): the paper's
gaze CNN made the step 1.24x slower (docs/BENCHMARKS.md). Its labels are the renderer's, never a real
eye's. It is stored beside the checkpoints (``<model_dir>/gaze_reader.keras``, atomically), so a
resumed run reads with the same network.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from absl import logging

READER_FILE = "gaze_reader.keras"
READER_EYES = 4000  # synthetic renderer eyes it is fitted on (as the real-eye table's estimators)
READER_EPOCHS = 10  # early stopping on a held-out 10% (gaze.cnn.train_gaze_cnn)
READER_BATCH = 128
READER_SEED_OFFSET = 303  # renderer seed: other eyes than the FCN's (seed + 101, + 202) and the style set's


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
