"""tf.data pipelines: shapes, dtypes, flips that keep labels consistent, sharding."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from purify_tf.data import pipeline, writers
from purify_tf.data.renderer import render_eyes
from purify_tf.errors import DataError


def test_purify_dataset_from_renderer():
    ds = pipeline.purify_dataset("render", batch_size=4, height=32, width=48, chunk=8, seed=1)
    batch = next(iter(ds))
    assert batch["image"].shape == (4, 32, 48, 3) and batch["image"].dtype == tf.float32
    assert batch["mask"].shape == (4, 32, 48) and batch["mask"].dtype == tf.int32
    img = batch["image"].numpy()
    assert img.min() >= 0 and img.max() <= 255 and img.max() > 1


def test_purify_dataset_from_arrays_resizes_and_flips_consistently():
    data = render_eyes(6, 36, 60, seed=2)
    ds = pipeline.purify_dataset(
        data, batch_size=6, height=24, width=40, shuffle=False, augment=True, training=False
    )
    batch = next(iter(ds))
    assert batch["image"].shape == (6, 24, 40, 3)
    # Flipped or not, the pupil label still sits on dark pixels.
    for img, mask in zip(batch["image"].numpy(), batch["mask"].numpy(), strict=True):
        if (mask == 2).sum() > 2:
            assert img[mask == 2].mean() < img[mask == 0].mean()


def test_purify_dataset_from_unityeyes_dir_with_sharding(tmp_path):
    writers.write_unityeyes(tmp_path, 4, 36, 60, seed=0)
    ctx = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2
    )
    ds = pipeline.purify_dataset(
        tmp_path,
        batch_size=4,
        height=36,
        width=60,
        input_context=ctx,
        shuffle=False,
        augment=False,
        training=False,
    )
    batches = list(ds)
    assert len(batches) == 1 and batches[0]["image"].shape == (2, 36, 60, 3)


def test_gaze_dataset_and_flip_negates_yaw():
    data = render_eyes(4, 36, 60, seed=3)
    plain = next(iter(pipeline.gaze_dataset(data, batch_size=4, shuffle=False, training=False)))
    assert plain[0].shape == (4, 35, 55, 1) and plain[1].shape == (4, 3)
    x = plain[0].numpy()
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    flipped = next(
        iter(
            pipeline.gaze_dataset(
                data, batch_size=4, shuffle=False, training=False, augment=True, seed=5
            )
        )
    )
    for a_img, a_g, b_img, b_g in zip(*plain, *flipped, strict=True):
        if np.allclose(a_img, b_img):
            np.testing.assert_allclose(a_g, b_g)
        else:
            np.testing.assert_allclose(b_img, a_img[:, ::-1])
            np.testing.assert_allclose(b_g, a_g * np.array([-1, 1, 1]), atol=1e-6)
    rendered = next(iter(pipeline.gaze_dataset("render", batch_size=8, chunk=8)))
    assert rendered[0].shape == (8, 35, 55, 1) and rendered[1].shape == (8, 3)


def test_to_gaze_input_numpy():
    imgs = render_eyes(3, 64, 96, seed=0)["image"]
    out = pipeline.to_gaze_input(imgs)
    assert out.shape == (3, 35, 55, 1) and out.dtype == np.float32
    gray = pipeline.to_gaze_input(imgs[..., :1].astype(np.float32))
    assert gray.shape == (3, 35, 55, 1)
    with pytest.raises(DataError):
        pipeline.to_gaze_input(np.zeros((2, 3)))


def test_missing_sources(tmp_path):
    with pytest.raises(DataError, match="missing"):
        pipeline.purify_dataset(tmp_path / "missing")
    with pytest.raises(DataError, match="no gaze labels"):
        pipeline.gaze_dataset({"image": np.zeros((2, 36, 60, 3), np.uint8)})
