"""LPW (Labelled Pupils in the Wild) reader: ``*.avi`` eye videos with a ``.txt`` of the same
stem holding one ``x y`` pupil centre per frame (pixels, x right, y down)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from absl import logging

from purify_tf.data.image_io import resize_pair, scale_points, to_rgb_uint8
from purify_tf.errors import DataError


def read_centres(path: str | Path) -> np.ndarray:
    """(F, 2) float32 pupil centres from an LPW label file."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read pupil-centre file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: pupil-centre file is not text ({exc.reason})") from exc
    rows = []
    for k, line in enumerate(lines, 1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except (ValueError, IndexError) as exc:
            raise DataError(f"{path}:{k}: expected 'x y' per line, got {line!r}") from exc
        if not all(np.isfinite(rows[-1])):
            raise DataError(f"{path}:{k}: pupil centre must be finite numbers, got {line!r}")
    if not rows:
        raise DataError(f"{path}: no pupil centres (expected one 'x y' line per frame)")
    return np.asarray(rows, np.float32)


def read_video(
    video: str | Path,
    size: tuple[int, int] | None = None,
    every: int = 1,
    limit: int | None = None,
) -> dict[str, np.ndarray]:
    """Frames (F, H, W, 3) uint8 RGB and pupil centres (F, 2) of one LPW video."""
    video = Path(video)
    labels_path = video.with_suffix(".txt")
    if not labels_path.exists():
        raise DataError(f"{video}: no pupil-centre file {labels_path.name} beside the video")
    centres = read_centres(labels_path)
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise DataError(f"{video}: cannot open video (corrupt or unsupported codec)")
    frames, kept = [], []
    index = 0
    try:
        while limit is None or len(frames) < limit:
            ok, frame = cap.read()
            if not ok:
                break
            if index < len(centres) and index % every == 0:
                img = to_rgb_uint8(frame, str(video))
                pt = centres[index]
                if size is not None:
                    src = img.shape[:2]
                    img, _ = resize_pair(img, None, size)
                    pt = scale_points(pt, src, size)
                frames.append(img)
                kept.append(pt)
            index += 1
    finally:
        cap.release()
    if not frames:
        raise DataError(f"{video}: no readable frames")
    if index != len(centres):
        logging.warning(
            "LPW: %s has %d frames but %d labels; using the overlap", video, index, len(centres)
        )
    return {"image": np.stack(frames), "pupil_center": np.stack(kept).astype(np.float32)}


def read_lpw(
    root: str | Path,
    size: tuple[int, int] | None = None,
    every: int = 1,
    limit: int | None = None,
) -> dict[str, np.ndarray]:
    """Every ``*.avi`` under ``root`` (recursively) to one batch of frames and pupil centres."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: LPW directory does not exist")
    videos = [root] if root.is_file() else sorted(root.rglob("*.avi"))
    if not videos:
        raise DataError(f"{root}: no *.avi videos (expected LPW videos with .txt pupil centres)")
    parts = []
    total = 0
    for v in videos:
        left = None if limit is None else limit - total
        if left is not None and left <= 0:
            break
        parts.append(read_video(v, size, every, left))
        total += len(parts[-1]["image"])
    shapes = {p["image"].shape[1:] for p in parts}
    if len(shapes) > 1:
        raise DataError(
            f"{root}: videos have different frame sizes {sorted(shapes)}; pass size=(H, W)"
        )
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
