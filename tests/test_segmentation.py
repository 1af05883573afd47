"""Coarse FCN shapes and training signal; the orphan-label rule from NumPy, TF and tf.data
(held to an independent NumPy statement of the rule)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from purify_tf.models.segmentation import (
    IRIS,
    OTHER,
    PUPIL,
    build_fcn,
    orphan_label_fix,
    predict_masks,
)

H, W = 20, 24


def disc(cy: float, cx: float, r: float, h: int = H, w: int = W) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def eye(iris=(10, 12, 6.2), pupil=(10, 12, 3.1), h: int = H, w: int = W) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    if iris:
        m[disc(*iris, h=h, w=w)] = IRIS
    if pupil:
        m[disc(*pupil, h=h, w=w)] = PUPIL
    return m


def centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([ys.mean(), xs.mean()])


def reference_fix(masks: np.ndarray, radius_fraction: float = 0.5) -> np.ndarray:
    """An independent NumPy statement of the rule (the oracle the one TF implementation is held to)."""
    single = masks.ndim == 2
    if single:
        return reference_fix(masks[None], radius_fraction)[0]
    m = masks.astype(np.int64)
    _, h, w = m.shape
    yy = np.arange(h, dtype=np.float64)[None, :, None]
    xx = np.arange(w, dtype=np.float64)[None, None, :]
    iris = (m == IRIS).astype(np.float64)
    pupil = (m == PUPIL).astype(np.float64)
    region = iris + pupil
    n_iris = iris.sum(axis=(1, 2))
    n_pupil = pupil.sum(axis=(1, 2))
    n_region = n_iris + n_pupil
    safe_iris = np.maximum(n_iris, 1.0)
    safe_pupil = np.maximum(n_pupil, 1.0)
    cy_i = (iris * yy).sum(axis=(1, 2)) / safe_iris
    cx_i = (iris * xx).sum(axis=(1, 2)) / safe_iris
    cy_p = (pupil * yy).sum(axis=(1, 2)) / safe_pupil
    cx_p = (pupil * xx).sum(axis=(1, 2)) / safe_pupil
    at_pupil_centroid = (yy == np.floor(cy_p + 0.5)[:, None, None]) & (
        xx == np.floor(cx_p + 0.5)[:, None, None]
    )
    centroid_in_region = np.any(at_pupil_centroid & (region > 0), axis=(1, 2))
    r2_region = n_region / math.pi
    far = (cy_p - cy_i) ** 2 + (cx_p - cx_i) ** 2 > r2_region
    orphan = (n_pupil == 0) | ~centroid_in_region | far
    apply = (n_iris > 0) & orphan
    d2 = (yy - cy_i[:, None, None]) ** 2 + (xx - cx_i[:, None, None]) ** 2
    r2_disc = (radius_fraction**2) * n_iris / math.pi
    nearest = (yy == np.floor(cy_i + 0.5)[:, None, None]) & (
        xx == np.floor(cx_i + 0.5)[:, None, None]
    )
    disc = (d2 <= r2_disc[:, None, None]) | nearest
    relabelled = np.where(m == PUPIL, np.where(d2 <= r2_region[:, None, None], IRIS, OTHER), m)
    fixed = np.where(disc, PUPIL, relabelled)
    return np.where(apply[:, None, None], fixed, m).astype(masks.dtype)


def both(m: np.ndarray, radius_fraction: float = 0.5) -> np.ndarray:
    """NumPy result, after checking that the tensor path and the NumPy oracle agree exactly."""
    out_np = orphan_label_fix(m, radius_fraction)
    out_tf = orphan_label_fix(tf.constant(m), radius_fraction).numpy()
    assert isinstance(out_np, np.ndarray)
    np.testing.assert_array_equal(out_np, out_tf)
    np.testing.assert_array_equal(out_np, reference_fix(m, radius_fraction))
    assert out_np.dtype == m.dtype and out_tf.dtype == m.dtype
    return out_np


def test_normal_eye_untouched():
    m = eye()
    np.testing.assert_array_equal(both(m), m)
    # Pupil partly covered by the eyelid (top rows "other"): still inside, untouched.
    m[:8] = OTHER
    np.testing.assert_array_equal(both(m), m)


def test_empty_and_pupil_only_untouched():
    empty = np.zeros((H, W), np.uint8)
    np.testing.assert_array_equal(both(empty), empty)
    pupil_only = eye(iris=None)
    np.testing.assert_array_equal(both(pupil_only), pupil_only)


@pytest.mark.parametrize("hole_label", [IRIS, OTHER])
def test_iris_without_pupil_gets_a_disc(hole_label):
    m = eye(pupil=(10, 12, 3.1))
    m[m == PUPIL] = hole_label
    out = both(m, radius_fraction=0.5)
    n_iris = np.sum(m == IRIS)
    radius = 0.5 * math.sqrt(n_iris / math.pi)
    expected_disc = disc(*centroid(m == IRIS), radius)
    np.testing.assert_array_equal(out == PUPIL, expected_disc)
    np.testing.assert_allclose(centroid(out == PUPIL), centroid(m == IRIS), atol=0.5)
    # Everything outside the new disc keeps its label.
    np.testing.assert_array_equal(out[~expected_disc], m[~expected_disc])
    bigger = both(m, radius_fraction=0.8)
    assert np.sum(bigger == PUPIL) > np.sum(out == PUPIL)


def test_pupil_outside_iris_is_replaced():
    m = eye(iris=(10, 7, 5.2), pupil=None)
    m[2:5, 19:22] = PUPIL  # a dark blob far from the iris
    out = both(m)
    assert np.all(out[2:5, 19:22] == OTHER)
    np.testing.assert_allclose(centroid(out == PUPIL), centroid(m == IRIS), atol=0.5)
    assert np.all(out[out == PUPIL] == PUPIL) and np.all(m[out == PUPIL] == IRIS)


def test_split_pupil_with_centroid_on_other_is_replaced():
    m = eye(pupil=None)
    m[10, 12] = OTHER  # the centroid pixel of the two blobs below is "other"
    m[9:12, 9:11] = PUPIL
    m[9:12, 14:16] = PUPIL
    out = both(m)
    # Old pupil pixels inside the iris become iris (or the new disc); the disc is centred.
    assert not np.any((m == PUPIL) & (out == OTHER))
    np.testing.assert_allclose(centroid(out == PUPIL), centroid(m == IRIS), atol=0.5)


def test_tiny_iris_still_gets_a_pupil_pixel():
    m = np.zeros((H, W), np.uint8)
    m[5, 5] = IRIS
    out = both(m)
    assert out[5, 5] == PUPIL and np.sum(out == PUPIL) == 1


def test_batch_mix_numpy_tf_and_tf_data_agree():
    iris_only = eye(pupil=None)
    outside = eye(iris=(10, 7, 5.2), pupil=None)
    outside[2:5, 19:22] = PUPIL
    batch = np.stack([eye(), iris_only, np.zeros((H, W), np.uint8), outside]).astype(np.int32)
    out = orphan_label_fix(batch)
    assert isinstance(out, np.ndarray)
    for i in range(len(batch)):
        np.testing.assert_array_equal(out[i], reference_fix(batch[i]))
    np.testing.assert_array_equal(out[0], batch[0])
    np.testing.assert_array_equal(out[2], batch[2])
    tensor_out = orphan_label_fix(tf.constant(batch))
    assert isinstance(tensor_out, tf.Tensor)
    np.testing.assert_array_equal(tensor_out.numpy(), out)
    ds = tf.data.Dataset.from_tensor_slices({"mask": batch}).batch(2)
    ds = ds.map(lambda d: {"mask": orphan_label_fix(d["mask"], 0.5)})
    np.testing.assert_array_equal(np.concatenate([d["mask"].numpy() for d in ds]), out)


def test_matches_the_reference_on_random_eyes():
    rng = np.random.default_rng(3)
    masks = []
    for _ in range(40):
        r = rng.uniform(2, 8)
        iris = (rng.uniform(0, 20), rng.uniform(0, 24), r)
        pupil = (iris[0] + rng.normal(0, r), iris[1] + rng.normal(0, r), r * rng.uniform(0.2, 0.7))
        m = eye(
            iris=iris if rng.uniform() < 0.9 else None, pupil=pupil if rng.uniform() < 0.7 else None
        )
        masks.append(m)
    masks = np.stack(masks)
    out = orphan_label_fix(masks, 0.45)
    np.testing.assert_array_equal(out, reference_fix(masks, 0.45))
    np.testing.assert_array_equal(out, orphan_label_fix(tf.constant(masks), 0.45).numpy())
    assert np.any(out != masks)
    has_iris = np.any(masks == IRIS, axis=(1, 2))
    assert np.all(np.any(out == PUPIL, axis=(1, 2))[has_iris])


# --------------------------------------------------------------------------- the FCN


def rendered_like(n: int, h: int = 64, w: int = 96, seed: int = 0):
    """Skin background, brown iris disc, dark pupil disc, noise: fixed labelled eyes."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, h, w, 3), np.float32)
    labels = np.zeros((n, h, w), np.int32)
    yy, xx = np.mgrid[:h, :w]
    for i in range(n):
        cy, cx = rng.uniform(0.35 * h, 0.65 * h), rng.uniform(0.3 * w, 0.7 * w)
        r_iris = rng.uniform(0.18, 0.28) * h
        d = np.hypot(yy - cy, xx - cx)
        labels[i][d <= r_iris] = IRIS
        labels[i][d <= r_iris * rng.uniform(0.3, 0.5)] = PUPIL
        palette = np.array([[200, 160, 140], [110, 70, 40], [20, 15, 15]], np.float32)
        images[i] = palette[labels[i]] + rng.normal(0, 12, size=(h, w, 3))
    return np.clip(images, 0, 255), labels


def test_fcn_shapes_and_padding():
    model = build_fcn(base_filters=8)
    x, _ = rendered_like(2)
    assert tuple(model(x).shape) == (2, 64, 96, 3)
    for h, w in [(40, 56), (37, 61)]:
        masks = predict_masks(model, x[:, :h, :w])
        assert tuple(masks.shape) == (2, h, w) and masks.dtype == tf.int32
        assert set(np.unique(masks.numpy())) <= {0, 1, 2}
    single = predict_masks(model, x[0, :37, :61].astype(np.uint8), fix_orphans=False)
    assert tuple(single.shape) == (37, 61)
    graph = tf.function(
        lambda im: predict_masks(model, im),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
    )
    np.testing.assert_array_equal(
        graph(x[:, :37, :61]).numpy(), predict_masks(model, x[:, :37, :61])
    )
    assert 100_000 < build_fcn().count_params() < 1_000_000


def test_fcn_adam_steps_lower_cross_entropy():
    x, y = rendered_like(12)
    model = build_fcn()
    optimizer = keras.optimizers.Adam(3e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    first = float(loss_fn(y, model(x)))
    for _ in range(30):
        step()
    last = float(loss_fn(y, model(x)))
    assert last < 0.5 * first, (first, last)


@pytest.mark.slow
def test_segment_trainer_takes_the_library_path(tmp_path):
    """``python -m trainers.segment`` trains through ``load_or_train_fcn``: the same weights as the
    library call with the same seed, checkpoints beside the model (a rerun resumes), and a rerun
    with the model in place evaluates it instead of training again."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from purify_tf.training.segment_loop import load_or_train_fcn

    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "trainers.segment", f"--model_dir={tmp_path / 'cli'}", "--fcn_steps=3",
           "--fcn_batch_size=2", "--height=16", "--width=24"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    first = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (tmp_path / "cli" / "fcn_checkpoints").is_dir()
    report = json.loads((tmp_path / "cli" / "fcn_iou.json").read_text())
    keras.utils.set_random_seed(0)
    fcn, iou = load_or_train_fcn(tmp_path / "lib" / "fcn.keras", 16, 24, steps=3, batch_size=2, seed=0)
    trained = keras.models.load_model(tmp_path / "cli" / "fcn.keras")
    for a, b in zip(trained.get_weights(), fcn.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert report["held_out"] == 64 and report["iou_with_orphan_fix"] == pytest.approx(iou)  # the same held-out set
    again = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "Training the FCN" not in again.stderr and "Using the FCN" in again.stderr
