"""tf.data pipelines over the renderer or any reader: resize, flip, shuffle, batch, shard.

The renderer is driven by a Python generator that renders a chunk of samples per call (the
renderer is vectorised, so per-sample calls would waste most of its speed); each input
pipeline (replica group) renders from its own seeds so replicas never see the same eyes.
File sources are read into memory by their reader and resized once in NumPy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tensorflow as tf

from purify_tf.conventions import GAZE_SIZE
from purify_tf.data.image_io import resize_pair
from purify_tf.data.renderer import render_eyes
from purify_tf.errors import DataError

Source = str | Path | dict[str, np.ndarray]


def to_gaze_input(images: np.ndarray) -> np.ndarray:
    """(N, H, W[, 1|3]) uint8 or float [0, 255] -> (N, 35, 55, 1) float32 gray in [0, 1]."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(f"to_gaze_input: expected (N, H, W, 1|3) images, got shape {x.shape}")
    x = x.astype(np.float32)
    gray = x[..., 0] if x.shape[-1] == 1 else x @ np.array([0.299, 0.587, 0.114], np.float32)
    n, h, w = gray.shape
    if (h, w) != GAZE_SIZE and n:
        interp = cv2.INTER_AREA if h >= GAZE_SIZE[0] and w >= GAZE_SIZE[1] else cv2.INTER_LINEAR
        gray = np.stack([cv2.resize(g, GAZE_SIZE[::-1], interpolation=interp) for g in gray])
    return (np.clip(gray, 0, 255) / 255.0).astype(np.float32)[..., None]


def load_source(source: Source, **reader_kwargs: Any) -> dict[str, np.ndarray]:
    """Arrays from a dict (returned as is) or a path, choosing the reader by what it holds."""
    if isinstance(source, dict):
        if "image" not in source:
            raise DataError("source dict: expected an 'image' array")
        return source
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: dataset path does not exist")
    if path.is_dir():
        if any(path.glob("*.tfrecord")):
            from purify_tf.data.tfrecord import read_tfrecords

            return read_tfrecords(path, **reader_kwargs)
        if any(path.glob("*.json")):
            from purify_tf.data.unityeyes import read_unityeyes

            return read_unityeyes(path, **reader_kwargs)
        if (path / "Data" / "Normalized").is_dir() or any(path.glob("p*/day*.mat")):
            from purify_tf.data.mpiigaze import read_mpiigaze

            return read_mpiigaze(path, **reader_kwargs)
        if any(path.rglob("*.avi")):
            from purify_tf.data.lpw import read_lpw

            return read_lpw(path, **reader_kwargs)
    elif path.suffix == ".tfrecord":
        from purify_tf.data.tfrecord import read_tfrecords

        return read_tfrecords(path, **reader_kwargs)
    from purify_tf.data.folder import read_folder

    return read_folder(path, **reader_kwargs)


def _resize_arrays(
    data: dict[str, np.ndarray], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    images = data["image"]
    masks = data.get("mask")
    if masks is None:
        masks = np.zeros(images.shape[:3], np.uint8)
    if images.shape[1:3] == tuple(size):
        return images, masks
    out_i = np.empty((len(images), size[0], size[1], images.shape[-1]), images.dtype)
    out_m = np.empty((len(images), size[0], size[1]), np.uint8)
    for i in range(len(images)):
        out_i[i], out_m[i] = resize_pair(images[i], masks[i], size)
    return out_i, out_m


def _chunk_seed(seed: int, pipeline: int, k: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(pipeline), int(k)]).generate_state(1)[0])


def _render_stream(
    height: int, width: int, domain: str, seed: int, pipeline: int, chunk: int, gaze: bool
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    k = 0
    while True:
        b = render_eyes(chunk, height, width, domain, _chunk_seed(seed, pipeline, k))
        k += 1
        if gaze:
            yield to_gaze_input(b["image"]), b["gaze"]
        else:
            yield b["image"].astype(np.float32), b["mask"].astype(np.int32)


def _replica(
    batch_size: int, input_context: tf.distribute.InputContext | None
) -> tuple[int, int, int]:
    if input_context is None:
        return batch_size, 1, 0
    return (
        input_context.get_per_replica_batch_size(batch_size),
        input_context.num_input_pipelines,
        input_context.input_pipeline_id,
    )


def _finish(
    ds: tf.data.Dataset, batch: int, shuffle: bool, training: bool, seed: int, buffer: int
) -> tf.data.Dataset:
    if shuffle:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def _flip_images(i: tf.Tensor, seed: int) -> tf.Tensor:
    return tf.random.stateless_uniform([], seed=tf.stack([tf.constant(seed, tf.int64), i])) < 0.5


def purify_dataset(
    source: Source = "render",
    batch_size: int = 8,
    height: int = 64,
    width: int = 64,
    domain: str = "real",
    seed: int = 0,
    shuffle: bool = True,
    augment: bool = True,
    training: bool = True,
    input_context: tf.distribute.InputContext | None = None,
    chunk: int = 256,
    shuffle_buffer: int = 1024,
    repeat: bool | None = None,
) -> tf.data.Dataset:
    """Batches of ``{"image": float32 (B, H, W, 3) [0, 255], "mask": int32 (B, H, W)}``.

    ``source`` is ``"render"`` (infinite, rendered at H x W in ``domain``), an EyeBatch dict
    or a dataset path. ``augment`` flips image and mask together (left/right). With an
    ``input_context`` the batch size is per replica and each input pipeline takes its shard.
    ``repeat`` defaults to ``training`` for finite sources.
    """
    batch, num_pipes, pipe = _replica(batch_size, input_context)
    if isinstance(source, str) and source == "render":
        sig = (
            tf.TensorSpec((None, height, width, 3), tf.float32),
            tf.TensorSpec((None, height, width), tf.int32),
        )
        ds = tf.data.Dataset.from_generator(
            lambda: _render_stream(height, width, domain, seed, pipe, chunk, gaze=False),
            output_signature=sig,
        ).unbatch()
    else:
        data = load_source(source)
        images, masks = _resize_arrays(data, (height, width))
        ds = tf.data.Dataset.from_tensor_slices((images, masks.astype(np.int32)))
        if num_pipes > 1:
            ds = ds.shard(num_pipes, pipe)
        ds = ds.map(lambda im, m: (tf.cast(im, tf.float32), m))
        if repeat if repeat is not None else training:
            ds = ds.repeat()
    ds = ds.map(lambda im, m: {"image": im, "mask": m})
    if augment:
        flip_seed = seed * 1009 + pipe

        def flip(i: tf.Tensor, ex: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            do = _flip_images(i, flip_seed)
            return {
                "image": tf.where(do, tf.reverse(ex["image"], [1]), ex["image"]),
                "mask": tf.where(do, tf.reverse(ex["mask"], [1]), ex["mask"]),
            }

        ds = ds.enumerate().map(flip, num_parallel_calls=tf.data.AUTOTUNE)
    return _finish(ds, batch, shuffle, training, seed, shuffle_buffer)


def gaze_dataset(
    source: Source = "render",
    batch_size: int = 512,
    domain: str = "synthetic",
    seed: int = 0,
    shuffle: bool = True,
    augment: bool = False,
    training: bool = True,
    input_context: tf.distribute.InputContext | None = None,
    chunk: int = 512,
    shuffle_buffer: int = 4096,
    repeat: bool | None = None,
) -> tf.data.Dataset:
    """Batches of ``(gray float32 (B, 35, 55, 1) in [0, 1], gaze float32 (B, 3))``.

    ``augment`` mirrors left/right and negates the gaze's x component (the yaw), which is
    what a horizontal flip does to the eye.
    """
    batch, num_pipes, pipe = _replica(batch_size, input_context)
    if isinstance(source, str) and source == "render":
        sig = (
            tf.TensorSpec((None, *GAZE_SIZE, 1), tf.float32),
            tf.TensorSpec((None, 3), tf.float32),
        )
        ds = tf.data.Dataset.from_generator(
            lambda: _render_stream(36, 60, domain, seed, pipe, chunk, gaze=True),
            output_signature=sig,
        ).unbatch()
    else:
        data = load_source(source)
        if "gaze" not in data:
            raise DataError(
                f"{source if not isinstance(source, dict) else 'source dict'}: no gaze labels"
            )
        ds = tf.data.Dataset.from_tensor_slices(
            (to_gaze_input(data["image"]), data["gaze"].astype(np.float32))
        )
        if num_pipes > 1:
            ds = ds.shard(num_pipes, pipe)
        if repeat if repeat is not None else training:
            ds = ds.repeat()
    if augment:
        flip_seed = seed * 1009 + pipe + 17

        def flip(i: tf.Tensor, ex: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
            img, gaze = ex
            do = _flip_images(i, flip_seed)
            mirrored = gaze * tf.constant([-1.0, 1.0, 1.0])
            return tf.where(do, tf.reverse(img, [1]), img), tf.where(do, mirrored, gaze)

        ds = ds.enumerate().map(flip, num_parallel_calls=tf.data.AUTOTUNE)
    return _finish(ds, batch, shuffle, training, seed, shuffle_buffer)
