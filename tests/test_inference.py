"""Purifier (.keras and SavedModel) and file/folder/video purification."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from model_helpers import keras_reference, random_images

from purify_tf.errors import ConfigError, DataError
from purify_tf.inference.files import purify_path, purify_video
from purify_tf.inference.purifier import Purifier
from purify_tf.model_io import resolve_saved_model_dir


@pytest.fixture(scope="module")
def purifier(keras_model_file):
    return Purifier(keras_model_file[1], batch_size=2, precision="float32")  # compared with Keras float32


def test_keras_purifier_mixed_sizes(keras_model_file, purifier):
    model, _ = keras_model_file
    images = [random_images(1, h, w, seed=h)[0] for h, w in [(36, 60), (37, 61), (36, 60), (36, 60), (10, 9)]]
    out = purifier.purify(images)
    assert [o.shape for o in out] == [im.shape for im in images]
    for im, o in zip(images, out, strict=True):
        assert o.dtype == np.uint8
        assert np.abs(o.astype(np.float32) - keras_reference(model, im[None])[0]).max() <= 1.0
    # The same image gives the same result whatever batch it travels in, up to the float
    # rounding of the convolution kernels that oneDNN picks per batch size (one level at most).
    batch = np.stack(images[:1] + images[2:4])
    again = purifier.purify(batch)
    assert again.shape == (3, 36, 60, 3) and again.dtype == np.uint8
    assert np.abs(again.astype(int) - np.stack([out[0], out[2], out[3]]).astype(int)).max() <= 1
    single = purifier.purify(images[0])
    assert single.shape == (36, 60, 3)
    diff = np.abs(single.astype(int) - out[0].astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.01


def test_saved_model_purifier_uses_latest_version(saved_model_dir, purifier):
    base = saved_model_dir.parent
    (base / "0").mkdir(exist_ok=True)  # an empty lower version is ignored
    assert resolve_saved_model_dir(base) == saved_model_dir
    served = Purifier(base)
    images = random_images(2, 36, 60, seed=3)
    assert served.kind == "saved_model"
    assert np.abs(served.purify(images).astype(int) - purifier.purify(images).astype(int)).max() <= 1


@pytest.mark.parametrize("precision, weights", [("mixed_bfloat16", "float32"), ("bfloat16", "bfloat16")])
def test_bfloat16_purifier_matches_float32(keras_model_file, saved_model_dir, purifier, precision, weights):
    fast = Purifier(keras_model_file[1], batch_size=2, precision=precision)
    conv = next(la for la in fast._module.model.layers if la.name == "down1_conv")
    assert conv.compute_dtype == "bfloat16" and conv.variable_dtype == weights
    head = fast._module.model.layers[-1]
    assert head.compute_dtype == "float32"  # the output layer stays float32
    images = random_images(3, 36, 60, seed=5)
    diff = np.abs(fast.purify(images).astype(int) - purifier.purify(images).astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.5
    with pytest.raises(ConfigError, match="needs a .keras model"):
        Purifier(saved_model_dir, precision="mixed_bfloat16")
    with pytest.raises(ConfigError, match="precision must be auto or one of"):
        Purifier(keras_model_file[1], precision="int4")


def test_jit_auto_compiles_a_large_size_once_it_repeats(keras_model_file, saved_model_dir):
    crops = random_images(2, 36, 60, seed=7)
    images = random_images(1, 128, 128, seed=8)  # JIT_MIN_PIXELS
    plain = Purifier(keras_model_file[1], batch_size=2, jit="off", precision="float32")
    # jit="auto" compiles float32 only: pinned, since precision="auto" is bfloat16 on native-bf16 CPUs.
    xla = Purifier(keras_model_file[1], batch_size=2, precision="float32")
    for _ in range(3):
        xla.purify(crops)
    assert xla._jit_fn.experimental_get_tracing_count() == 0  # batches of eye crops stay on the graph
    first = xla.purify(images)
    assert xla._jit_fn.experimental_get_tracing_count() == 0  # one run of a size: the plain graph
    second = xla.purify(images)
    assert xla._jit_fn.experimental_get_tracing_count() == 1  # the repeat runs the XLA function
    reference = plain.purify(images).astype(int)
    for out in (first, second):
        diff = np.abs(out.astype(int) - reference)
        assert diff.max() <= 1 and diff.mean() < 0.01
    assert plain._jit_fn is None
    with pytest.raises(ConfigError, match="jit must be one of"):
        Purifier(keras_model_file[1], jit="fast")
    with pytest.raises(ConfigError, match="needs a .keras model"):
        Purifier(saved_model_dir, jit="on")


@pytest.mark.parametrize("native, precision, compiled", [("0", "float32", True), ("1", "bfloat16", False)])
def test_auto_choices_under_each_cpu(keras_model_file, monkeypatch, native, precision, compiled):
    """precision="auto" and jit="auto" on a CPU without and with native bfloat16 (the detection
    overridden by $PURIFY_NATIVE_BF16): float32 gets the XLA function, bfloat16 the plain graph."""
    monkeypatch.setenv("PURIFY_NATIVE_BF16", native)
    chosen = Purifier(keras_model_file[1], batch_size=2)
    assert chosen.precision == precision
    assert (chosen._jit_fn is not None) == compiled
    images = random_images(2, 36, 60, seed=9)
    reference = Purifier(keras_model_file[1], batch_size=2, precision="float32", jit="off").purify(images)
    assert np.abs(chosen.purify(images).astype(int) - reference.astype(int)).mean() < 0.5


def test_purifier_errors(tmp_path, purifier):
    with pytest.raises(ConfigError, match="does not exist"):
        Purifier(tmp_path / "missing.keras")
    with pytest.raises(ConfigError, match="neither a SavedModel"):
        Purifier(tmp_path)
    with pytest.raises(ConfigError, match="cannot load"):
        (tmp_path / "bad.keras").write_bytes(b"not a zip")
        Purifier(tmp_path / "bad.keras")
    with pytest.raises(DataError, match="RGB"):
        purifier.purify(np.zeros((1, 8, 8, 4), np.uint8))
    with pytest.raises(DataError, match="uint8"):
        purifier.purify(np.zeros((8, 8, 3), np.float32))


def _write_video(path, frames: int, size=(48, 64), fps=10.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (size[1], size[0]))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((*size, 3), 20 * i % 255, np.uint8)
        cv2.circle(frame, (32, 24), 8 + i % 5, (40, 80, 160), -1)
        writer.write(frame)
    writer.release()


def test_video_roundtrip(purifier, tmp_path):
    src, dst = tmp_path / "clip.avi", tmp_path / "out" / "clip.avi"
    _write_video(src, 12)
    summary = purify_video(purifier, src, dst, batch_size=5, verbose=False)
    assert (summary.done, summary.failed, summary.frames) == (1, 0, 12)
    cap = cv2.VideoCapture(str(dst))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (64, 48)
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == 12 and not [p for p in dst.parent.iterdir() if p.name.startswith(".")]
    again = purify_video(purifier, src, dst, verbose=False)
    assert (again.done, again.skipped) == (0, 1)
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"RIFF....AVI garbage")
    bad = purify_video(purifier, broken, tmp_path / "out" / "broken.avi", verbose=False)
    assert bad.failed == 1 and not (tmp_path / "out" / "broken.avi").exists()


def test_single_image_and_format(purifier, tmp_path):
    src = tmp_path / "eye.jpg"
    cv2.imwrite(str(src), random_images(1, 36, 60)[0])
    summary = purify_path(purifier, src, tmp_path / "out", fmt="png", verbose=False)
    assert summary.done == 1 and (tmp_path / "out" / "eye.png").is_file()
    assert cv2.imread(str(tmp_path / "out" / "eye.png")).shape == (36, 60, 3)
    with pytest.raises(ConfigError, match="--format"):
        purify_path(purifier, src, tmp_path / "o2", fmt="gif", verbose=False)
    with pytest.raises(ConfigError, match="inside the input folder"):
        purify_path(purifier, tmp_path, tmp_path / "out", verbose=False)
