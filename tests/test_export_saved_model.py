"""SavedModel export: fresh-process loading, saved_model_cli, parity with Keras, serving boundary."""

from __future__ import annotations

import hashlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from model_helpers import keras_reference, random_images

from export.saved_model import METADATA_FILE, export_saved_model, next_version, read_metadata
from purify_tf.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SIZES = [(36, 60), (64, 96), (255, 257)]
SAVED_MODEL_CLI = Path(sys.executable).with_name("saved_model_cli")


def _quiet_env() -> dict:
    import os

    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


@pytest.mark.slow
def test_fresh_process_load_matches_keras(keras_model_file, saved_model_dir, tmp_path):
    model, _ = keras_model_file
    inputs = {f"{h}x{w}": random_images(2, h, w, seed=h) for h, w in SIZES}
    np.savez(tmp_path / "inputs.npz", **inputs)
    script = f"""
import numpy as np, tensorflow as tf
loaded = tf.saved_model.load({str(saved_model_dir)!r})
fn = loaded.signatures["serving_default"]
data = np.load({str(tmp_path / "inputs.npz")!r})
out = {{k: fn(images=tf.constant(data[k]))["images"].numpy() for k in data.files}}
np.savez({str(tmp_path / "outputs.npz")!r}, **out)
"""
    subprocess.run([sys.executable, "-c", script], check=True, env=_quiet_env(), timeout=120)
    outputs = np.load(tmp_path / "outputs.npz")
    for key, images in inputs.items():
        out = outputs[key]
        assert out.dtype == np.uint8 and out.shape == images.shape
        diff = np.abs(out.astype(np.float32) - keras_reference(model, images))
        assert diff.max() <= 1.0, (key, diff.max())


@pytest.mark.slow
def test_saved_model_cli_show_and_run(keras_model_file, saved_model_dir, tmp_path):
    shown = subprocess.run(
        [str(SAVED_MODEL_CLI), "show", "--all", "--dir", str(saved_model_dir)],
        check=True, capture_output=True, text=True, env=_quiet_env(), timeout=120,
    ).stdout
    for name in ("serving_default", "predict_float", "predict_bytes", "DT_UINT8", "images_bytes", "png_bytes"):
        assert name in shown
    model, _ = keras_model_file
    images = random_images(1, 36, 60, seed=3)
    np.save(tmp_path / "x.npy", images)
    subprocess.run(
        [str(SAVED_MODEL_CLI), "run", "--dir", str(saved_model_dir), "--tag_set", "serve",
         "--signature_def", "serving_default", "--inputs", f"images={tmp_path / 'x.npy'}",
         "--outdir", str(tmp_path / "out")],
        check=True, capture_output=True, text=True, env=_quiet_env(), timeout=120,
    )
    out = np.load(tmp_path / "out" / "images.npy")
    assert out.shape == images.shape and out.dtype == np.uint8
    assert np.abs(out.astype(np.float32) - keras_reference(model, images)).max() <= 1.0


def test_float_signature_matches_keras(keras_model_file, loaded_saved_model):
    model, _ = keras_model_file
    images = random_images(2, 40, 52, seed=4).astype(np.float32)
    out = loaded_saved_model.signatures["predict_float"](images=tf.constant(images))["images"].numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, keras_reference(model, images), atol=1e-2)


def test_bytes_signature_decodes_jpeg_and_png(keras_model_file, loaded_saved_model):
    model, _ = keras_model_file
    a, b = random_images(1, 36, 60, seed=5)[0], random_images(1, 48, 40, seed=6)[0]
    jpeg = tf.io.encode_jpeg(a, quality=95).numpy()
    png = tf.io.encode_png(b).numpy()
    out = loaded_saved_model.signatures["predict_bytes"](images_bytes=tf.constant([jpeg, png]))["png_bytes"].numpy()
    assert len(out) == 2  # different sizes in one request
    for encoded, data in zip(out, (jpeg, png), strict=True):
        decoded_in = tf.io.decode_image(data, channels=3).numpy()
        purified = tf.io.decode_png(encoded).numpy()
        assert purified.shape == decoded_in.shape
        assert np.abs(purified.astype(np.float32) - keras_reference(model, decoded_in[None])[0]).max() <= 1.0


def _error(fn, **kwargs) -> str:
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        fn(**{k: tf.constant(v) for k, v in kwargs.items()})
    return info.value.message


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((36, 60, 3), "4-D batch"),
        ((1, 2, 36, 60, 3), "4-D batch"),
        ((1, 36, 60, 1), "3 channels"),
        ((1, 36, 60, 4), "3 channels"),
        ((0, 36, 60, 3), "batch is empty"),
        ((1, 0, 60, 3), "zero size"),
        ((1, 36, 0, 3), "zero size"),
        ((1, 3, 60, 3), "sides must be >= 4"),
        ((1, 4097, 4097, 3), "too large"),
    ],
)
def test_serving_boundary_rejects_bad_uint8_batches(loaded_saved_model, shape, expected):
    message = _error(loaded_saved_model.signatures["serving_default"], images=np.zeros(shape, np.uint8))
    assert "purify_tf serving:" in message and expected in message, message


def test_batch_pixel_limit(keras_model_file):
    from purify_tf.inference.serving import ServingLimits, ServingModule

    module = ServingModule(keras_model_file[0], ServingLimits(4, 64 * 64, 2 * 64 * 64))
    message = _error(module.serve_uint8, images=np.zeros((3, 64, 64, 3), np.uint8))
    assert "batch is too large" in message


def test_serving_boundary_float_and_bytes(loaded_saved_model):
    sigs = loaded_saved_model.signatures
    bad = np.full((1, 8, 8, 3), np.nan, np.float32)
    assert "NaN or Inf" in _error(sigs["predict_float"], images=bad)
    assert "3 channels" in _error(sigs["predict_float"], images=np.zeros((1, 8, 8, 2), np.float32))
    assert "batch is empty" in _error(sigs["predict_bytes"], images_bytes=np.zeros((0,), object).astype(bytes))
    assert "1-D batch" in _error(sigs["predict_bytes"], images_bytes=np.array([[b"x"]]))
    # A tiny PNG whose header claims 20000 x 20000: rejected before decoding (no 1.2 GB allocation).
    png = bytearray(tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)).numpy())
    png[16:24] = (20000).to_bytes(4, "big") + (20000).to_bytes(4, "big")
    assert "encoded image is too large" in _error(sigs["predict_bytes"], images_bytes=np.array([bytes(png)]))
    with pytest.raises(tf.errors.InvalidArgumentError):
        sigs["predict_bytes"](images_bytes=tf.constant([b"not an image"]))


def test_grayscale_bytes_are_purified_as_their_rgb_copy(keras_model_file, loaded_saved_model):
    """A grayscale PNG goes through the bytes signature as the same eye in three equal channels."""
    model, _ = keras_model_file
    gray = random_images(1, 12, 16, seed=8)[0, :, :, :1]
    out = loaded_saved_model.signatures["predict_bytes"](
        images_bytes=tf.constant([tf.io.encode_png(gray).numpy()]))["png_bytes"].numpy()
    purified = tf.io.decode_png(out[0]).numpy()
    assert purified.shape == (12, 16, 3)
    want = keras_reference(model, np.repeat(gray, 3, axis=-1)[None])[0]
    assert np.abs(purified.astype(np.float32) - want).max() <= 1.0


def test_metadata_and_layout(keras_model_file, saved_model_dir, loaded_saved_model):
    assert saved_model_dir.name == "1" and saved_model_dir.parent.name == "purifier"
    assert not [p for p in saved_model_dir.parent.iterdir() if p.name.startswith(".")]  # no temp dirs
    meta = read_metadata(saved_model_dir)
    assert (saved_model_dir / METADATA_FILE).is_file()
    assert meta["transformer"]["config"] == "tiny" and meta["transformer"]["residual_blocks"] == 1
    assert meta["export"] == {"name": "purifier", "version": 1, "format": "saved_model"}
    assert meta["limits"]["max_image_pixels"] == 4096 * 4096
    assert meta["source"]["sha256"] == hashlib.sha256(keras_model_file[1].read_bytes()).hexdigest()
    assert json.loads(loaded_saved_model.metadata().numpy()) == meta  # the served copy is the file's


def test_versions_and_refusal(keras_model_file, saved_model_dir, tmp_path):
    assert next_version(tmp_path / "none") == 1
    for name in ("1", "7", "tmp", ".8.tmp-x"):
        (tmp_path / "m" / name).mkdir(parents=True)
    assert next_version(tmp_path / "m") == 8
    with pytest.raises(ConfigError, match="already exists"):
        export_saved_model(keras_model_file[1], saved_model_dir.parent.parent, version=1)
    with pytest.raises(ConfigError, match="--name"):
        export_saved_model(keras_model_file[1], tmp_path, name="a/b")
    with pytest.raises(ConfigError, match="does not exist"):
        export_saved_model(tmp_path / "missing.keras", tmp_path)


def test_models_config_parses():
    text = (REPO / "export" / "models.config").read_text()
    pytest.importorskip("tensorflow_serving")
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    (served,) = config.model_config_list.config
    # TF Serving finds what export_saved_model writes: <base_path> = <export_dir>/<name>, its default name.
    default_name = inspect.signature(export_saved_model).parameters["name"].default
    assert served.name == default_name and Path(served.base_path).name == default_name
    assert served.model_platform == "tensorflow" and served.model_version_policy.latest.num_versions == 1


def test_cli_flags_defined_on_demand():
    from absl import flags

    from export import saved_model

    fv = flags.FlagValues()
    saved_model.define_flags(fv)
    fv(["prog", "--model=m.keras", "--export_dir=out", "--version=3"])
    assert fv.version == 3 and fv.name == "purifier"
    for name in ("model", "export_dir", "name", "version", "overwrite", "max_image_pixels"):
        assert fv[name].help
