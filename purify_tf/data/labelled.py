"""A labelled eye folder: images plus a ``labels.csv`` with a file column and gaze columns.

This is how a gaze researcher's own eyes arrive (and how the shared MPIIGaze patches are laid
out): one CSV row per image, ``file`` relative to the folder, and the gaze either as ``pitch`` and
``yaw`` (radians, the convention of :mod:`purify_tf.vectors`) or as a 3D vector ``gaze_x``,
``gaze_y``, ``gaze_z``. Optional columns are kept when present: ``subject`` (for subject-disjoint
splits), ``eye``, ``flipped`` and ``head_pitch`` / ``head_yaw`` (empty cells allowed there).

Labels are never guessed: a missing file, a missing column or a non-numeric gaze cell is a
``DataError`` naming the CSV row (1-based, the header is row 1) and what was expected. An image
that exists but cannot be decoded is reported and skipped, like the folder reader does.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from absl import logging

from purify_tf.data.image_io import read_image, resize_images
from purify_tf.errors import DataError
from purify_tf.vectors import pitchyaw_to_vector, vector_to_pitchyaw

LABELS_FILE = "labels.csv"
FILE_COLUMN = "file"
PITCHYAW_COLUMNS = ("pitch", "yaw")
VECTOR_COLUMNS = ("gaze_x", "gaze_y", "gaze_z")
HEAD_COLUMNS = ("head_pitch", "head_yaw")


def labels_path(path: str | Path) -> Path:
    """The CSV of a labelled folder (the folder itself or the CSV's own path)."""
    path = Path(path)
    return path / LABELS_FILE if path.is_dir() else path


def is_labelled_folder(path: str | Path) -> bool:
    return labels_path(path).is_file()


def _number(row: dict[str, str], column: str, where: str, allow_empty: bool = False) -> float:
    text = (row.get(column) or "").strip()
    if not text and allow_empty:
        return float("nan")
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: column '{column}' should be a number, got {text!r}") from None
    if not np.isfinite(value):
        raise DataError(f"{where}: column '{column}' should be finite, got {text!r}")
    return value


def _gaze_columns(header: Sequence[str], csv_path: Path) -> tuple[str, ...]:
    if FILE_COLUMN not in header:
        raise DataError(f"{csv_path}: missing column '{FILE_COLUMN}' (columns: {', '.join(header)})")
    if all(c in header for c in PITCHYAW_COLUMNS):
        return PITCHYAW_COLUMNS
    if all(c in header for c in VECTOR_COLUMNS):
        return VECTOR_COLUMNS
    raise DataError(
        f"{csv_path}: missing gaze columns: expected 'pitch' and 'yaw' (radians) or "
        f"'gaze_x', 'gaze_y', 'gaze_z' (columns: {', '.join(header)})"
    )


def read_labels(
    path: str | Path, subjects: Sequence[str] | None = None, eyes: Sequence[str] | None = None,
    flipped: bool | None = None,
) -> list[dict[str, object]]:
    """The CSV's rows (after the filters) as dicts: ``file`` (Path), ``pitchyaw`` (2,), ``row``,
    ``subject``, ``eye``, ``flipped`` (bool), ``head`` (2,) (NaN where empty or absent).

    ``subjects`` / ``eyes`` keep the rows whose ``subject`` / ``eye`` cell is listed (the column
    must then exist); ``flipped`` keeps rows with that ``flipped`` value (no column: not flipped).
    """
    csv_path = labels_path(path)
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: labelled folder needs a {LABELS_FILE} (file column + gaze columns)")
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        columns = _gaze_columns(header, csv_path)
        for name, wanted in (("subject", subjects), ("eye", eyes)):
            if wanted is not None and name not in header:
                raise DataError(f"{csv_path}: filtering by {name} needs a '{name}' column")
        out: list[dict[str, object]] = []
        for number, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "") for k, v in raw.items()}
            where = f"{csv_path} row {number}"
            subject, eye = row.get("subject", "").strip(), row.get("eye", "").strip()
            is_flipped = row.get("flipped", "0").strip() in ("1", "true", "True")
            if (subjects is not None and subject not in subjects) or (eyes is not None and eye not in eyes):
                continue
            if flipped is not None and is_flipped != flipped:
                continue
            name = row.get(FILE_COLUMN, "").strip()
            if not name:
                raise DataError(f"{where}: empty '{FILE_COLUMN}' cell")
            values = [_number(row, c, where) for c in columns]
            if columns == VECTOR_COLUMNS:
                vector = np.asarray(values, np.float64)
                norm = np.linalg.norm(vector)
                if norm < 1e-9:
                    raise DataError(f"{where}: gaze vector is zero")
                pitchyaw = vector_to_pitchyaw((vector / norm)[None])[0]
            else:
                pitchyaw = np.asarray(values, np.float64)
            head = np.asarray([_number(row, c, where, allow_empty=True) if c in row else np.nan
                               for c in HEAD_COLUMNS])
            file = csv_path.parent / name
            if not file.is_file():
                raise DataError(f"{where}: image file {file} does not exist")
            out.append({"file": file, "pitchyaw": pitchyaw, "row": number, "subject": subject,
                        "eye": eye, "flipped": is_flipped, "head": head})
    if not out:
        raise DataError(f"{csv_path}: no rows (after filters subjects={subjects}, eyes={eyes}, flipped={flipped})")
    return out


def read_labelled(
    path: str | Path, size: tuple[int, int] | None = None, limit: int | None = None,
    subjects: Sequence[str] | None = None, eyes: Sequence[str] | None = None,
    flipped: bool | None = None,
) -> dict[str, np.ndarray]:
    """A labelled folder -> ``image`` uint8 (N, H, W, 3), ``gaze`` float32 (N, 3), ``pitchyaw``
    float32 (N, 2), ``subject``, ``eye`` (N,) str, ``flipped`` (N,) bool, ``head_pitchyaw``
    float32 (N, 2) (NaN where unknown), ``path`` (N,) str, ``skipped`` (the undecodable count).

    ``size`` (H, W) resizes every image; without it the first image's size is used and others
    are resized to it. ``limit`` keeps the first ``limit`` rows that pass the filters.
    """
    rows = read_labels(path, subjects=subjects, eyes=eyes, flipped=flipped)[: limit or None]
    images, kept, skipped = [], [], 0
    for row in rows:
        try:
            image = read_image(row["file"])
        except DataError as exc:
            logging.warning("skipping %s (row %d)", exc, row["row"])
            skipped += 1
            continue
        if size is None:
            size = (image.shape[0], image.shape[1])
        if image.shape[:2] != tuple(size):
            image = resize_images(image[None], *size)[0]
        images.append(image)
        kept.append(row)
    if not images:
        raise DataError(f"{labels_path(path)}: none of the {len(rows)} labelled images could be decoded")
    if skipped:
        logging.warning("%s: skipped %d unreadable image(s)", labels_path(path), skipped)
    pitchyaw = np.stack([r["pitchyaw"] for r in kept]).astype(np.float32)
    return {
        "image": np.stack(images).astype(np.uint8),
        "gaze": pitchyaw_to_vector(pitchyaw).astype(np.float32),
        "pitchyaw": pitchyaw,
        "subject": np.asarray([r["subject"] for r in kept]),
        "eye": np.asarray([r["eye"] for r in kept]),
        "flipped": np.asarray([r["flipped"] for r in kept], bool),
        "head_pitchyaw": np.stack([r["head"] for r in kept]).astype(np.float32),
        "path": np.asarray([str(r["file"]) for r in kept]),
        "skipped": np.asarray(skipped),
    }
