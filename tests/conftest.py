"""Shared test fixtures: quiet TensorFlow, fixed seeds, and the optional ../shared folder."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests never touch the network or the user's weights: the loss network is random unless a
# test points at a file explicitly.
os.environ.pop("PURIFY_VGG_WEIGHTS", None)
os.environ["PURIFY_OFFLINE"] = "1"  # never download loss-network weights in tests

# The trainers ask for TensorFlow's oneDNN kernels before importing it (trainers.common); the tests
# do too, and the trainer subprocesses they start inherit the setting, so that a library call here,
# a trainer and a fault-injection wrapper that imports TensorFlow first all compute with the same
# kernels: TensorFlow turns oneDNN on by itself only on CPUs with AVX512_VNNI, AVX512_BF16 or AMX, and
# on an AVX2 CPU its kernels and Eigen's differ in the last bits (a resumed run then missed the
# straight run's weights).
from purify_tf.inference.onednn import request_onednn  # noqa: E402  (TensorFlow-free)

request_onednn("auto")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _seed_everything():
    np.random.seed(0)
    try:
        import keras

        keras.utils.set_random_seed(0)
    except ImportError:  # pragma: no cover
        pass
    yield


@pytest.fixture
def shared_dir() -> Path:
    """../shared when present; tests that need it skip with a reason otherwise."""
    if not SHARED_DIR.is_dir():
        pytest.skip("../shared is not present beside the checkout")
    return SHARED_DIR


# ----------------------------------------------------------------------------- session models
# Building, saving and exporting are the slow parts of the export/inference tests: one small model
# and one SavedModel export serve the whole session.


@pytest.fixture(scope="session")
def keras_model_file(tmp_path_factory) -> tuple[object, Path]:
    """(model, path): a paper transformer with randomised batch-norm statistics, saved as .keras."""
    import keras

    from purify_tf.models.transformer import build_transformer

    keras.utils.set_random_seed(1)
    model = build_transformer("tiny")  # the paper layout, small: every export and runtime path, quickly
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
