"""Plain image folders (recursive; PNG, JPEG, BMP, TIFF), e.g. real eyes to purify.

A scan skips files that cannot be decoded (with a warning each and a count at the end) rather
than failing a long job on one bad file; a missing or empty folder is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import logging

from purify_tf.data.image_io import IMAGE_EXTENSIONS, read_image, resize_pair
from purify_tf.errors import DataError


def list_images(directory: str | Path) -> list[Path]:
    """Image files under ``directory`` (recursive, sorted); DataError if there are none."""
    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"{root}: image folder does not exist")
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise DataError(
            f"{root}: no images (expected files ending in {', '.join(IMAGE_EXTENSIONS)})"
        )
    return files


def load_images(
    directory: str | Path, size: tuple[int, int] | None = None, limit: int | None = None
) -> tuple[list[np.ndarray], list[Path], list[tuple[Path, str]]]:
    """Decode the folder's images: (images, their paths, skipped (path, reason) pairs)."""
    images, paths, skipped = [], [], []
    for path in list_images(directory):
        if limit and len(images) >= limit:
            break
        try:
            img = read_image(path)
        except DataError as exc:
            logging.warning("skipping %s", exc)
            skipped.append((path, str(exc)))
            continue
        if size is not None:
            img, _ = resize_pair(img, None, size)
        images.append(img)
        paths.append(path)
    if skipped:
        logging.warning("%s: skipped %d unreadable file(s)", directory, len(skipped))
    if not images:
        raise DataError(f"{directory}: none of the image files could be decoded")
    return images, paths, skipped


def read_folder(
    directory: str | Path, size: tuple[int, int] | None = None, limit: int | None = None
) -> dict[str, np.ndarray]:
    """Folder to ``{"image": (N, H, W, 3) uint8, "path": (N,) str, "skipped": () int}``.

    Without ``size`` all images must share one size.
    """
    images, paths, skipped = load_images(directory, size, limit)
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise DataError(
            f"{directory}: images have different sizes {sorted(shapes)}; pass size=(H, W)"
        )
    return {
        "image": np.stack(images),
        "path": np.asarray([str(p) for p in paths]),
        "skipped": np.asarray(len(skipped)),
    }
