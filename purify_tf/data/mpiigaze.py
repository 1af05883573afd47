"""MPIIGaze reader for the normalised data: ``Data/Normalized/pXX/dayYY.mat``.

Each file holds ``data.left`` and ``data.right`` with ``image`` (N, 36, 60) uint8 gray,
``gaze`` (N, 3) and ``pose`` (N, 3) in the normalised camera frame (the convention of
``purify_tf.vectors``). ``scipy.io.loadmat(squeeze_me=True)`` drops singleton axes, so a
file with one sample yields (36, 60) and (3,) arrays; those are restored here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io
from absl import logging

from purify_tf.errors import DataError
from purify_tf.vectors import vector_to_pitchyaw

EYES = ("left", "right")
IMAGE_SHAPE = (36, 60)


def _field(obj: object, name: str, path: Path, where: str) -> object:
    if not hasattr(obj, name):
        raise DataError(
            f"{path}: missing field '{where}.{name}' (expected MPIIGaze normalised .mat)"
        )
    return getattr(obj, name)


def _numbers(value: object, path: Path, where: str) -> np.ndarray:
    """A finite float64 array, or a DataError naming the field (text, structs and NaN labels)."""
    try:
        out = np.asarray(value, np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: field '{where}' should be numbers, got {type(value).__name__}") from exc
    if not np.isfinite(out).all():
        raise DataError(f"{path}: field '{where}' holds non-finite (NaN or inf) values")
    return out


def load_mat(path: str | Path, eyes: Sequence[str] = EYES) -> dict[str, np.ndarray]:
    """One ``dayYY.mat``: image (N, 36, 60, 3) uint8, gaze, pitchyaw, head_pose, eye (0 L, 1 R)."""
    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=True)
    except Exception as exc:  # scipy raises many types (MatReadError, IndexError, zlib...) on bad files
        raise DataError(f"{path}: cannot read .mat file ({type(exc).__name__}: {exc})") from exc
    if "data" not in mat:
        raise DataError(
            f"{path}: missing variable 'data' (expected data.left/right.image/gaze/pose)"
        )
    images, gazes, poses, which = [], [], [], []
    for eye in eyes:
        if eye not in EYES:
            raise DataError(f"eyes must be among {EYES}, got {eye!r}")
        side = _field(mat["data"], eye, path, "data")
        img = np.asarray(_field(side, "image", path, f"data.{eye}"))
        gaze = _numbers(_field(side, "gaze", path, f"data.{eye}"), path, f"data.{eye}.gaze")
        pose = _numbers(_field(side, "pose", path, f"data.{eye}"), path, f"data.{eye}.pose")
        if img.size == 0:
            continue
        if img.ndim == 2:  # a single sample, squeezed
            img, gaze, pose = img[None], gaze.reshape(1, -1), pose.reshape(1, -1)
        if img.ndim != 3 or img.shape[1:] != IMAGE_SHAPE:
            raise DataError(f"{path}: data.{eye}.image should be (N, 36, 60), got {img.shape}")
        gaze, pose = gaze.reshape(len(img), -1), pose.reshape(len(img), -1)
        if gaze.shape[1] != 3 or pose.shape[1] != 3:
            raise DataError(
                f"{path}: data.{eye}.gaze/pose should be (N, 3), got {gaze.shape}, {pose.shape}"
            )
        images.append(img.astype(np.uint8))
        gazes.append(gaze)
        poses.append(pose)
        which.append(np.full(len(img), EYES.index(eye), np.uint8))
    if not images:
        raise DataError(f"{path}: no samples for eyes {tuple(eyes)}")
    gaze = np.concatenate(gazes)
    gaze = gaze / np.maximum(np.linalg.norm(gaze, axis=1, keepdims=True), 1e-12)
    img = np.concatenate(images)
    return {
        "image": np.repeat(img[..., None], 3, axis=3),
        "gaze": gaze.astype(np.float32),
        "pitchyaw": vector_to_pitchyaw(gaze),
        "head_pose": np.concatenate(poses).astype(np.float32),
        "eye": np.concatenate(which),
    }


def list_files(root: str | Path, participants: Sequence[str] | None = None) -> list[Path]:
    """The ``pXX/dayYY.mat`` files under an MPIIGaze root, ``Data/Normalized`` or a pXX folder."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DataError(f"{root}: MPIIGaze directory does not exist")
    base = root / "Data" / "Normalized" if (root / "Data" / "Normalized").is_dir() else root
    files = sorted(base.glob("p*/day*.mat")) or sorted(base.glob("day*.mat"))
    if participants is not None:
        keep = set(participants)
        files = [f for f in files if f.parent.name in keep]
    if not files:
        raise DataError(f"{root}: no MPIIGaze files (expected Data/Normalized/pXX/dayYY.mat)")
    return files


def read_mpiigaze(
    root: str | Path,
    participants: Sequence[str] | None = None,
    eyes: Sequence[str] = EYES,
    limit: int | None = None,
    flip_right: bool = False,
) -> dict[str, np.ndarray]:
    """Read normalised MPIIGaze into an EyeBatch-like dict (no masks, no pupil centres).

    ``flip_right`` mirrors right-eye images and their gaze (x, yaw negated) so that every
    sample looks like a left eye, as many gaze estimators expect.
    """
    parts = []
    total = 0
    for f in list_files(root, participants):
        parts.append(load_mat(f, eyes))
        total += len(parts[-1]["image"])
        if limit and total >= limit:
            break
    out = {k: np.concatenate([p[k] for p in parts])[: limit if limit else None] for k in parts[0]}
    if flip_right:
        right = out["eye"] == 1
        out["image"][right] = out["image"][right][:, :, ::-1]
        out["gaze"][right, 0] *= -1
        out["pitchyaw"][right, 1] *= -1
    logging.info("MPIIGaze: %d samples from %s", len(out["image"]), root)
    return out
