"""The one reader registry: dataset kind -> reader, and the kind a path holds.

Every reader returns an ``EyeBatch``-like dict of NumPy arrays (``image`` uint8 (N, H, W, 3) and
what the dataset knows: ``mask``, ``gaze``, ``pitchyaw``, ``pupil_center``) and takes ``limit``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from purify_tf.errors import DataError

# kind -> (module, function); readers are imported on first use.
READERS: dict[str, tuple[str, str]] = {
    "unityeyes": ("purify_tf.data.unityeyes", "read_unityeyes"),
    "mpiigaze": ("purify_tf.data.mpiigaze", "read_mpiigaze"),
    "lpw": ("purify_tf.data.lpw", "read_lpw"),
    "labelled": ("purify_tf.data.labelled", "read_labelled"),
    "folder": ("purify_tf.data.folder", "read_folder"),
    "tfrecord": ("purify_tf.data.tfrecord", "read_tfrecords"),
}
KINDS = tuple(READERS)


def detect_kind(path: str | Path) -> str:
    """The reader a path needs, from what it holds (a labels.csv, TFRecords, UnityEyes JSON,
    MPIIGaze, LPW videos, else a folder of images)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: dataset path does not exist")
    if path.is_dir():
        if (path / "labels.csv").is_file():
            return "labelled"
        if any(path.glob("*.tfrecord")):
            return "tfrecord"
        if any(path.glob("*.json")):
            return "unityeyes"
        if (path / "Data" / "Normalized").is_dir() or any(path.glob("p*/day*.mat")):
            return "mpiigaze"
        if any(path.rglob("*.avi")):
            return "lpw"
    elif path.suffix == ".tfrecord":
        return "tfrecord"
    return "folder"


def read_dataset(kind: str, path: str | Path, **reader_kwargs: Any) -> dict:
    """Arrays from the reader ``kind`` names (``"auto"``: :func:`detect_kind`)."""
    if kind == "auto":
        kind = detect_kind(path)
    if kind not in READERS:
        raise DataError(f"dataset kind {kind!r}: expected 'auto' or one of {list(READERS)}")
    module, function = READERS[kind]
    return getattr(importlib.import_module(module), function)(path, **reader_kwargs)
