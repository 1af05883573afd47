"""The one colour code for segmentation masks in every figure: label map -> RGB, overlay, legend.

Grids in TensorBoard, the demo and the report show FCN masks next to eyes; a reader must tell
iris from pupil at a glance and without a colour-vision advantage, so the palette uses the
Okabe-Ito sky blue (iris) and yellow (pupil) on black (other), and every grid that shows masks
carries a legend strip naming them. NumPy and OpenCV only (no TensorFlow), so any module can use it.
"""

from __future__ import annotations

import cv2
import numpy as np

# Index = label (0 other, 1 iris, 2 pupil; see docs/ARCHITECTURE.md).
MASK_NAMES = ("other", "iris", "pupil")
MASK_PALETTE = np.array([[0, 0, 0], [86, 180, 233], [240, 228, 66]], np.uint8)
LEGEND_HEIGHT = 16


def mask_to_rgb(masks: np.ndarray) -> np.ndarray:
    """(..., H, W) labels -> (..., H, W, 3) uint8 in ``MASK_PALETTE``; out-of-range labels clip."""
    return MASK_PALETTE[np.clip(np.asarray(masks, np.int64), 0, len(MASK_PALETTE) - 1)]


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image with iris and pupil blended half-and-half in their palette colours."""
    colour = image.copy()
    for label in (1, 2):
        colour[mask == label] = MASK_PALETTE[label]
    return ((image.astype(np.uint16) + colour) // 2).astype(np.uint8)


def legend_strip(width: int, height: int = LEGEND_HEIGHT) -> np.ndarray:
    """A white (height, width, 3) uint8 strip with a swatch and the name of iris and pupil."""
    strip = np.full((height, max(1, width), 3), 255, np.uint8)
    x, pad = 4, 3
    side = max(4, height - 2 * pad)
    for label in (1, 2):
        colour = tuple(int(c) for c in MASK_PALETTE[label])
        cv2.rectangle(strip, (x, pad), (x + side - 1, pad + side - 1), colour, thickness=-1)
        cv2.rectangle(strip, (x, pad), (x + side - 1, pad + side - 1), (0, 0, 0), thickness=1)
        x += side + 3
        cv2.putText(strip, MASK_NAMES[label], (x, pad + side - 2), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, (0, 0, 0), 1, cv2.LINE_AA)
        x += 8 * len(MASK_NAMES[label]) + 8
    return strip


def with_legend(grid: np.ndarray) -> np.ndarray:
    """``grid`` (H, W, 3) uint8 with a mask legend strip appended below it."""
    grid = np.asarray(grid, np.uint8)
    return np.concatenate([grid, legend_strip(grid.shape[1])], axis=0)
