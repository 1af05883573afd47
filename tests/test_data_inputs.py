"""The one data path: reader registry, the one resize rule, gaze inputs, and datasets read by a
reader feeding the step-indexed tf.data stream that training uses."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from purify_tf.data import writers
from purify_tf.data.image_io import interpolation_for, resize_images, resize_pair, to_gaze_input
from purify_tf.data.readers import KINDS, detect_kind, read_dataset
from purify_tf.data.renderer import render_eyes
from purify_tf.errors import DataError
from purify_tf.training.inputs import ArraySource, step_dataset, take_batches


def test_to_gaze_input_numpy():
    imgs = render_eyes(3, 64, 96, seed=0)["image"]
    out = to_gaze_input(imgs)
    assert out.shape == (3, 35, 55, 1) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    gray = to_gaze_input(imgs[..., :1].astype(np.float32))
    assert gray.shape == (3, 35, 55, 1)
    with pytest.raises(DataError):
        to_gaze_input(np.zeros((2, 3)))


def test_one_resize_rule():
    assert interpolation_for((64, 96), (32, 48)) == cv2.INTER_AREA
    assert interpolation_for((64, 96), (64, 48)) == cv2.INTER_AREA  # no side grows
    assert interpolation_for((32, 48), (64, 96)) == cv2.INTER_LINEAR
    assert interpolation_for((64, 48), (32, 96)) == cv2.INTER_LINEAR  # one side grows
    eyes = render_eyes(2, 36, 60, seed=1)
    img, mask = resize_pair(eyes["image"][0], eyes["mask"][0], (18, 30))
    np.testing.assert_array_equal(img, resize_images(eyes["image"], 18, 30)[0])
    np.testing.assert_array_equal(mask, resize_images(eyes["mask"], 18, 30, labels=True)[0])
    assert set(np.unique(resize_images(eyes["mask"], 72, 120, labels=True))) <= {0, 1, 2}


def test_array_source_resizes_by_the_rule():
    """Growing images are interpolated bilinearly (area averaging would copy pixels in blocks)."""
    eyes = render_eyes(3, 16, 24, seed=2)
    src = ArraySource(eyes["image"], 32, 48, masks=eyes["mask"])
    np.testing.assert_array_equal(src.images, resize_images(eyes["image"], 32, 48))
    np.testing.assert_array_equal(src.masks, resize_images(eyes["mask"], 32, 48, labels=True))


def test_registry_detects_and_reads_written_datasets(tmp_path):
    assert set(KINDS) == {"unityeyes", "mpiigaze", "lpw", "labelled", "folder", "tfrecord"}
    writers.write_unityeyes(tmp_path / "ue", 4, 36, 60, seed=0)
    assert detect_kind(tmp_path / "ue") == "unityeyes"
    data = read_dataset("auto", tmp_path / "ue", limit=3)
    assert data["image"].shape == (3, 36, 60, 3) and data["mask"].shape == (3, 36, 60)
    np.testing.assert_array_equal(data["image"], read_dataset("unityeyes", tmp_path / "ue", limit=3)["image"])
    # Read arrays feed the training stream: every batch a function of the step.
    src = ArraySource(data["image"], 24, 40, masks=data["mask"], seed=1)
    batches = list(step_dataset(src, 2, 0, 2))
    assert [tuple(b["image"].shape) for b in batches] == [(2, 24, 40, 3)] * 2
    assert batches[0]["mask"].dtype.name == "int32"


def test_take_batches_never_asks_for_the_end():
    """The training loops know their step count; asking a MirroredStrategy iterator for its end
    costs seconds, so ``take_batches`` stops after ``count`` without another ``next``."""
    asked = []

    def stream():
        for i in range(5):
            asked.append(i)
            yield i
        raise AssertionError("the end of the stream was asked for")

    assert list(take_batches(stream(), 5)) == [0, 1, 2, 3, 4]
    assert asked == [0, 1, 2, 3, 4]
    assert list(take_batches(iter([1, 2]), 4)) == [1, 2]  # a shorter stream ends the loop cleanly
    assert list(take_batches([1, 2], 0)) == []


def test_missing_and_unknown_sources(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_dataset("auto", tmp_path / "missing")
    with pytest.raises(DataError, match="dataset kind"):
        read_dataset("nope", tmp_path)
    (tmp_path / "imgs").mkdir()
    assert detect_kind(tmp_path / "imgs") == "folder"
