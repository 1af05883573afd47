"""Session-wide fixtures for the export/inference tests: one small model, one SavedModel export.

Building, saving and exporting are the slow parts, so every module shares them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def keras_model_file(tmp_path_factory) -> tuple[object, Path]:
    """(model, path): a paper transformer with randomised batch-norm statistics, saved as .keras."""
    import keras

    from purify_tf.models.transformer import build_transformer

    keras.utils.set_random_seed(1)
    model = build_transformer("paper")
    rng = np.random.default_rng(1)
    for layer in model.layers:  # non-trivial inference statistics, as after training
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape).astype("float32"))
    path = tmp_path_factory.mktemp("model") / "transformer.keras"
    model.save(path)
    return model, path


@pytest.fixture(scope="session")
def saved_model_dir(keras_model_file, tmp_path_factory) -> Path:
    """``<export_dir>/purifier/1``: the SavedModel exported from ``keras_model_file``."""
    from export.saved_model import export_saved_model

    _, path = keras_model_file
    return export_saved_model(path, tmp_path_factory.mktemp("serving"), name="purifier")


@pytest.fixture(scope="session")
def loaded_saved_model(saved_model_dir):
    import tensorflow as tf

    return tf.saved_model.load(str(saved_model_dir))


def keras_reference(model, images: np.ndarray) -> np.ndarray:
    """Keras output in float pixels for any H, W (reflect-pad and crop back)."""
    from purify_tf.models.transformer import apply_padded

    return apply_padded(model, np.asarray(images, np.float32)).numpy()


def random_images(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth-ish random uint8 RGB images (noise alone is an unusual input for a conv net)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, height // 4 + 2, width // 4 + 2, 3)).astype(np.float32)
    import cv2

    return np.stack(
        [cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR) for b in base]
    ).clip(0, 255).astype(np.uint8)


@pytest.fixture
def pretrained_dir(keras_model_file, tmp_path, monkeypatch) -> Path:
    """A signed ``purifier.keras`` + ``purifier.json`` that ``$PURIFY_PRETRAINED_DIR`` points at."""
    import shutil

    from purify_tf.model_io import write_model_metadata

    folder = tmp_path / "pretrained"
    folder.mkdir()
    shutil.copyfile(keras_model_file[1], folder / "purifier.keras")
    write_model_metadata(folder / "purifier.keras", {
        "objective": "paper", "data": "renderer (real domain)", "steps": 3, "seed": 7,
        "image_size": [36, 60], "scores": {"gaze_error_deg": 9.5},
    })
    monkeypatch.setenv("PURIFY_PRETRAINED_DIR", str(folder))
    return folder
