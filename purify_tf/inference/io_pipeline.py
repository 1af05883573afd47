"""Reading ahead of and writing behind the network when purifying files.

Decoding and encoding images cost as much as the network on small eye crops, and OpenCV's codecs
release the GIL, so a couple of threads overlap them with inference (``purify_tf.inference.files``).
"""

from __future__ import annotations

import collections
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from purify_tf.atomic import atomic_write_bytes
from purify_tf.data.image_io import read_image
from purify_tf.errors import DataError

# Reader/writer threads beside the network.
IO_THREADS = 2
_JPEG_QUALITY = 95


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """Encode RGB uint8 to the format named by ``suffix`` (".png", ".jpg", ...)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise DataError(f"cannot encode an image as {suffix}")
    return buf.tobytes()


def load(path: Path) -> tuple[np.ndarray | None, str | None]:
    """(image, None) or (None, why it cannot be read); runs in a reader thread."""
    try:
        return read_image(path), None
    except DataError as exc:
        return None, str(exc).removeprefix(f"{path}: ")
    except Exception as exc:  # any decoder surprise must not stop the job
        return None, f"cannot read image ({type(exc).__name__}: {exc})"


def save(dst: Path, image: np.ndarray) -> str | None:
    """Encode and write atomically; None, or why it failed. Runs in a writer thread."""
    try:
        atomic_write_bytes(dst, encode_image(image, dst.suffix), overwrite=True)
    except Exception as exc:  # full disk, read-only folder, encoder error
        return f"cannot write {dst}: {exc}"
    return None


class Pipeline:
    """Reads ahead and writes behind the network on ``IO_THREADS`` threads (OpenCV's codecs release
    the GIL), so decoding and encoding overlap inference; at most ``depth`` files in flight each way.
    Results are counted in the calling thread, in input order."""

    def __init__(self, pool: ThreadPoolExecutor, summary: Any, depth: int) -> None:
        self.pool, self.summary, self.depth = pool, summary, depth
        self.writes: collections.deque = collections.deque()

    def advance(self) -> None:
        if self.summary.reporter is not None:
            self.summary.reporter.advance(1)

    def write(self, items: list[tuple[Path, Path, np.ndarray]]) -> None:
        for src, dst, out in items:
            self.writes.append((src, self.pool.submit(save, dst, out)))
        self.drain(self.depth)

    def drain(self, keep: int = 0) -> None:
        while len(self.writes) > keep or (self.writes and self.writes[0][1].done()):
            src, future = self.writes.popleft()
            error = future.result()
            if error is None:
                self.summary.done += 1
                self.summary.images += 1
            else:
                self.summary.fail(src, error)
            self.advance()

