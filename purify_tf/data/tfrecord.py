"""TFRecord reader matching ``writers.write_tfrecords`` (PNG image and mask, float labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from purify_tf.errors import DataError

_LABELS = {"gaze": 3, "pitchyaw": 2, "pupil_center": 2}


def list_shards(path: str | Path) -> list[Path]:
    """TFRecord files at ``path``: a file, or every ``*.tfrecord`` in a directory."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise DataError(f"{p}: TFRecord file or directory does not exist")
    files = sorted(p.glob("*.tfrecord"))
    if not files:
        raise DataError(f"{p}: no *.tfrecord files")
    return files


def _features() -> dict[str, tf.io.FixedLenFeature]:
    feats = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "mask": tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    for key, dim in _LABELS.items():
        feats[key] = tf.io.FixedLenFeature([dim], tf.float32, default_value=[np.nan] * dim)
    return feats


def parse_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Decode one example: image uint8 (H, W, 3), mask uint8 (H, W), float labels."""
    ex = tf.io.parse_single_example(serialized, _features())
    image = tf.io.decode_png(ex["image"], channels=3)
    mask = tf.cond(
        tf.strings.length(ex["mask"]) > 0,
        lambda: tf.io.decode_png(ex["mask"], channels=1)[:, :, 0],
        lambda: tf.zeros(tf.shape(image)[:2], tf.uint8),
    )
    out = {"image": image, "mask": mask}
    out.update({k: ex[k] for k in _LABELS})
    return out


def tfrecord_dataset(
    path: str | Path, shuffle_files: bool = False, seed: int = 0
) -> tf.data.Dataset:
    """A dataset of decoded samples from the shards at ``path``."""
    files = [str(f) for f in list_shards(path)]
    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        ds = ds.shuffle(len(files), seed=seed)
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(4, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.map(parse_example, num_parallel_calls=tf.data.AUTOTUNE)


def read_tfrecords(path: str | Path, limit: int | None = None) -> dict[str, np.ndarray]:
    """All samples at ``path`` as an EyeBatch of NumPy arrays (labels missing in the file absent)."""
    ds = tfrecord_dataset(path)
    if limit:
        ds = ds.take(limit)
    rows = []
    try:
        for ex in ds:
            rows.append({k: v.numpy() for k, v in ex.items()})
    except tf.errors.OpError as exc:
        raise DataError(f"{path}: cannot read TFRecords ({exc.message})") from exc
    if not rows:
        raise DataError(f"{path}: TFRecords hold no samples")
    shapes = {r["image"].shape for r in rows}
    if len(shapes) > 1:
        raise DataError(f"{path}: images have different sizes {sorted(shapes)}")
    out = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    for key in _LABELS:
        if np.all(np.isnan(out[key])):
            del out[key]
    return out
