"""The one colour code for segmentation masks in every figure: label map -> RGB, overlay, legend.

Grids in TensorBoard, the demo and the report show FCN masks next to eyes; a reader must tell
iris from pupil at a glance and without a colour-vision advantage, so the palette uses the
Okabe-Ito sky blue (iris) and yellow (pupil) on black (other), and every grid that shows masks
carries a legend strip naming them. NumPy and OpenCV only (no TensorFlow), so any module can use it;
:func:`image_grid` is the one grid builder (TensorBoard previews and the report's figures).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from purify_tf.conventions import CLASS_NAMES, IRIS, PUPIL
from purify_tf.errors import DataError

MASK_PALETTE = np.array([[0, 0, 0], [86, 180, 233], [240, 228, 66]], np.uint8)
LEGEND_HEIGHT = 16


def mask_to_rgb(masks: np.ndarray) -> np.ndarray:
    """(..., H, W) labels -> (..., H, W, 3) uint8 in ``MASK_PALETTE``; out-of-range labels clip."""
    return MASK_PALETTE[np.clip(np.asarray(masks, np.int64), 0, len(MASK_PALETTE) - 1)]


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image with iris and pupil blended half-and-half in their palette colours."""
    colour = image.copy()
    for label in (IRIS, PUPIL):
        colour[mask == label] = MASK_PALETTE[label]
    return ((image.astype(np.uint16) + colour) // 2).astype(np.uint8)


def legend_strip(width: int, height: int = LEGEND_HEIGHT) -> np.ndarray:
    """A white (height, width, 3) uint8 strip with a swatch and the name of iris and pupil."""
    strip = np.full((height, max(1, width), 3), 255, np.uint8)
    x, pad = 4, 3
    side = max(4, height - 2 * pad)
    for label in (IRIS, PUPIL):
        colour = tuple(int(c) for c in MASK_PALETTE[label])
        cv2.rectangle(strip, (x, pad), (x + side - 1, pad + side - 1), colour, thickness=-1)
        cv2.rectangle(strip, (x, pad), (x + side - 1, pad + side - 1), (0, 0, 0), thickness=1)
        x += side + 3
        cv2.putText(strip, CLASS_NAMES[label], (x, pad + side - 2), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, (0, 0, 0), 1, cv2.LINE_AA)
        x += 8 * len(CLASS_NAMES[label]) + 8
    return strip


def with_legend(grid: np.ndarray) -> np.ndarray:
    """``grid`` (H, W, 3) uint8 with a mask legend strip appended below it."""
    grid = np.asarray(grid, np.uint8)
    return np.concatenate([grid, legend_strip(grid.shape[1])], axis=0)


def as_rgb_uint8(images: np.ndarray) -> np.ndarray:
    """(N, H, W[, 1|3|4]) images -> uint8 (N, H, W, 3) (gray repeated, alpha dropped)."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(f"expected (N, H, W, 1|3|4) images, got shape {x.shape}")
    if x.dtype != np.uint8:
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return np.ascontiguousarray(x[..., :3])


def image_grid(
    columns: Sequence[np.ndarray], labels: Sequence[str] | None = None, max_rows: int = 8,
    tile_height: int | None = 70, legend: bool | None = None, gap: int = 4,
) -> np.ndarray:
    """uint8 RGB grid, one column per image set (e.g. real | purified | style), one row per image.

    Tiles are scaled to ``tile_height`` (nearest neighbour, so small eyes stay readable; None
    keeps their size), ``gap`` white pixels apart, and a header strip carries the column labels.
    ``legend`` appends the iris/pupil legend; by default it does so when a label mentions a mask.
    """
    cols = [as_rgb_uint8(c) for c in columns]
    rows = min(max_rows, min(len(c) for c in cols))
    tiles = []
    for c in cols:
        h, w = c.shape[1:3]
        th = h if tile_height is None else tile_height
        tw = max(1, int(round(w * th / h)))
        tiles.append([cv2.resize(c[i], (tw, th), interpolation=cv2.INTER_NEAREST) for i in range(rows)])
    tile_h = tiles[0][0].shape[0]
    widths = [t[0].shape[1] for t in tiles]
    header = 18 if labels else 0
    grid = np.full((header + rows * (tile_h + gap), sum(widths) + gap * (len(widths) + 1), 3), 255, np.uint8)
    x = gap
    for j, col in enumerate(tiles):
        if labels:
            cv2.putText(grid, str(labels[j])[:24], (x, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                        cv2.LINE_AA)
        for i, tile in enumerate(col):
            y = header + i * (tile_h + gap)
            grid[y : y + tile_h, x : x + widths[j]] = tile
        x += widths[j] + gap
    if legend is None:
        legend = any("mask" in str(label).lower() for label in labels or ())
    return with_legend(grid) if legend else grid
