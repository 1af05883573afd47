"""Grid of rendered eyes (both domains, masks overlaid) beside real MPIIGaze and SynthesEyes
crops from ``../shared/data`` (when present), to judge the renderer's realism by eye.

The command is ``python -m tools.render_preview --out docs/renders_grid.png``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from absl import logging

from purify_tf.data.image_io import read_image
from purify_tf.data.renderer import render_eyes
from purify_tf.palette import overlay, with_legend

TILE = (72, 120)  # (H, W) of one tile in the grid, before the zoom
ZOOM = 1


def _tile(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, TILE[::-1], interpolation=cv2.INTER_LINEAR)


def _label(row: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((18, row.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, row])


def _shared_images(folder: Path, count: int) -> list[np.ndarray]:
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.png"))
    idx = np.linspace(0, len(files) - 1, min(count, len(files))).astype(int) if files else []
    return [read_image(files[i]) for i in idx]


def make_grid(shared: Path, count: int = 8, seed: int = 0) -> np.ndarray:
    """The grid as an RGB array: rendered rows (image and overlay), then the shared references."""
    rows = []
    for domain in ("synthetic", "real"):
        b = render_eyes(count, TILE[0], TILE[1], domain, seed)
        rows.append(
            _label(np.hstack(list(b["image"])), f"rendered '{domain}' ({TILE[1]}x{TILE[0]})")
        )
        over = [overlay(im, m) for im, m in zip(b["image"], b["mask"], strict=True)]
        rows.append(_label(np.hstack(over), f"'{domain}' masks: iris blue, pupil yellow"))
    blank = np.full((*TILE, 3), 255, np.uint8)
    for sub, text in (
        ("data/mpiigaze-55x35", "real MPIIGaze crops (55x35, ../shared)"),
        ("data/syntheseyes-120x80", "SynthesEyes renders (120x80, ../shared)"),
    ):
        imgs = [_tile(im) for im in _shared_images(shared / sub, count)]
        if not imgs:
            logging.warning("%s not found; its row is left blank", shared / sub)
        imgs += [blank] * (count - len(imgs))
        rows.append(_label(np.hstack(imgs), text))
    grid = with_legend(np.vstack(rows))
    return cv2.resize(grid, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)
