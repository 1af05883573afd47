"""Purify files: one image, a folder tree (images and videos), or a video.

Batch jobs over user folders meet broken files and get interrupted, so:

* a file that cannot be read or purified is reported once (to the ``Reporter`` when one is given,
  else as an absl warning, naming the file and why), counted as failed, and skipped: the rest of
  the job goes on;
* an existing output is never replaced without ``overwrite=True`` (it is counted as skipped), so a
  rerun of an interrupted job does only what is left;
* every output is written under a temporary name and renamed into place (``purify_tf.atomic``):
  there is never a half-written image or video at an output path.

Images are read with ``purify_tf.data.image_io`` (grayscale, RGBA, 16-bit and EXIF-rotated files
become upright 8-bit RGB) and written as 8-bit RGB, in the input's format or ``fmt``.
Videos keep their fps, size and frame count.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from absl import logging

from purify_tf.atomic import atomic_path
from purify_tf.data.image_io import IMAGE_EXTENSIONS
from purify_tf.errors import ConfigError, DataError
from purify_tf.inference.io_pipeline import IO_THREADS, Pipeline, load
from purify_tf.inference.purifier import MAX_AUTO_BATCH, auto_batch_size
from purify_tf.progress import Reporter

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".m4v")
IMAGE_FORMATS = ("png", "jpg", "jpeg", "bmp", "tif", "tiff")
_FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "MJPG"}
_DEFAULT_FPS = 25.0


@dataclasses.dataclass
class Summary:
    """Counts of a job; ``failures`` holds (path, reason) for each failed file.

    ``images`` counts purified images plus video frames (the throughput figure); ``reporter``
    receives each failure as it happens (else it is logged as an absl warning).
    """

    done: int = 0
    skipped: int = 0
    failed: int = 0
    frames: int = 0
    images: int = 0
    failures: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    reporter: Reporter | None = dataclasses.field(default=None, repr=False, compare=False)

    def fail(self, path: str | os.PathLike, reason: str) -> None:
        if self.reporter is not None:
            self.reporter.fail(path, reason)
        else:
            logging.warning("Skipping %s: %s", path, reason)
        self.failed += 1
        self.failures.append((str(path), reason))

    def merge(self, other: Summary) -> None:
        self.done += other.done
        self.skipped += other.skipped
        self.failed += other.failed
        self.frames += other.frames
        self.images += other.images
        self.failures.extend(other.failures)

    def line(self) -> str:
        frames = f" ({self.frames} video frames)" if self.frames else ""
        return f"done {self.done}{frames}, skipped {self.skipped} (output exists), failed {self.failed}"


@contextlib.contextmanager
def _reporting(reporter: Reporter | None, verbose: bool, total: int | None) -> Iterator[Reporter | None]:
    """The caller's reporter (started if it was not), or a stderr one when verbose (closed after
    the block, so a terminal bar ends cleanly), or None."""
    owned = reporter is None and verbose
    if owned:
        reporter = Reporter()
    if reporter is not None and not reporter.started:
        reporter.start(total)
    try:
        yield reporter
    finally:
        if owned and reporter is not None:
            reporter.close()


def _check_format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    fmt = fmt.lower().lstrip(".")
    if fmt not in IMAGE_FORMATS:
        raise ConfigError(f"--format must be one of {IMAGE_FORMATS}, got {fmt!r}")
    return fmt


def image_output_path(src: Path, dst: Path, fmt: str | None) -> Path:
    """``dst`` with the suffix of ``fmt`` (or of ``src`` when no format is given)."""
    return dst.with_suffix("." + fmt) if fmt else dst.with_suffix(src.suffix.lower() or ".png")


def _purified(
    purifier: Any, batch: list[tuple[Path, Path, np.ndarray]], summary: Summary
) -> list[tuple[Path, Path, np.ndarray]]:
    """Purify a batch; on an error retry one by one so only the bad file fails."""
    try:
        outputs = purifier.purify([image for _, _, image in batch])
    except Exception as exc:
        if len(batch) > 1:
            return [item for one in batch for item in _purified(purifier, [one], summary)]
        src, _, image = batch[0]
        summary.fail(src, f"cannot purify an image of shape {image.shape}: {short_error(exc)}")
        return []
    return [(src, dst, out) for (src, dst, _), out in zip(batch, outputs, strict=True)]


def short_error(exc: Exception) -> str:
    """The one line of an exception that says what is wrong (a failure line must be one line)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:  # a serving assertion says what is wrong in one line
        if "purify_tf serving:" in ln:
            return ln
    return lines[-1] if lines else type(exc).__name__


def purify_images(
    purifier: Any,
    pairs: list[tuple[Path, Path]],
    overwrite: bool = False,
    batch_size: int | None = None,
    verbose: bool = True,
    reporter: Reporter | None = None,
) -> Summary:
    """Purify (src, dst) image pairs in batches; dst suffixes are final."""
    with _reporting(reporter, verbose, len(pairs)) as reporter:
        return _purify_images(purifier, pairs, overwrite, batch_size, reporter)


def _purify_images(
    purifier: Any, pairs: list[tuple[Path, Path]], overwrite: bool, batch_size: int | None, reporter: Reporter | None
) -> Summary:
    summary = Summary(reporter=reporter)
    todo = []
    for src, dst in pairs:
        if dst.exists() and not overwrite:
            summary.skipped += 1
            if reporter is not None:
                reporter.advance(1)
        else:
            todo.append((src, dst))
    gather = batch_size or MAX_AUTO_BATCH
    with ThreadPoolExecutor(IO_THREADS, thread_name_prefix="purify-io") as pool:
        pipe = Pipeline(pool, summary, depth=2 * gather)
        reads: collections.deque = collections.deque()
        upcoming = iter(todo)

        def refill() -> None:
            while len(reads) < 2 * gather and (item := next(upcoming, None)) is not None:
                reads.append((item, pool.submit(load, item[0])))

        refill()
        batch: list[tuple[Path, Path, np.ndarray]] = []
        while reads:
            (src, dst), future = reads.popleft()
            refill()
            image, error = future.result()
            if error is not None:
                summary.fail(src, error)
                pipe.advance()
            else:
                batch.append((src, dst, image))
            if batch and (len(batch) >= gather or not reads):
                before = summary.failed
                pipe.write(_purified(purifier, batch, summary))
                for _ in range(summary.failed - before):
                    pipe.advance()
                batch = []
        pipe.drain()
    return summary


def _frames(capture: cv2.VideoCapture, batch_size: int) -> Iterator[list[np.ndarray]]:
    batch: list[np.ndarray] = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        batch.append(frame)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def purify_video(
    purifier: Any,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    overwrite: bool = False,
    batch_size: int | None = None,
    verbose: bool = True,
    reporter: Reporter | None = None,
) -> Summary:
    """Purify every frame of ``src`` into ``dst`` with the same fps, size and frame count."""
    src, dst = Path(src), Path(dst)
    with _reporting(reporter, verbose, 1) as reporter:
        summary = Summary(reporter=reporter)
        try:
            _purify_video(purifier, src, dst, overwrite, batch_size, summary)
        finally:
            if reporter is not None:
                reporter.advance()
        return summary


def _purify_video(
    purifier: Any, src: Path, dst: Path, overwrite: bool, batch_size: int | None, summary: Summary
) -> None:
    if dst.exists() and not overwrite:
        summary.skipped += 1
        return
    capture = cv2.VideoCapture(str(src))
    try:
        if not capture.isOpened():
            summary.fail(src, "cannot open the video (corrupt or unsupported codec)")
            return
        fps = capture.get(cv2.CAP_PROP_FPS)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        expected = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if not fps or fps <= 0 or not np.isfinite(fps):
            logging.warning("%s: unknown frame rate, writing %.0f fps", src, _DEFAULT_FPS)
            fps = _DEFAULT_FPS
        fourcc = cv2.VideoWriter_fourcc(*_FOURCC.get(dst.suffix.lower(), "MJPG"))
        written = 0
        with atomic_path(dst, overwrite=overwrite) as tmp:
            writer = cv2.VideoWriter(str(tmp), fourcc, fps, (width, height))
            if not writer.isOpened():
                raise DataError(f"cannot open a video writer for {dst} ({dst.suffix})")
            try:
                for frames in _frames(capture, batch_size or auto_batch_size(height, width)):
                    rgb = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames])
                    for out in purifier.purify(rgb):
                        writer.write(cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
                    written += len(frames)
                    if summary.reporter is not None:
                        summary.reporter.add_frames(len(frames))
            finally:
                writer.release()
            if written == 0:
                raise DataError("the video has no readable frames")
        if expected > 0 and written != expected:
            logging.warning("%s: header says %d frames, %d could be read and were written", src, expected, written)
        summary.done += 1
        summary.frames += written
        summary.images += written
    except FileExistsError:
        summary.skipped += 1
    except Exception as exc:
        summary.fail(src, short_error(exc))
    finally:
        capture.release()


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


def purify_path(
    purifier: Any,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    overwrite: bool = False,
    fmt: str | None = None,
    batch_size: int | None = None,
    verbose: bool = True,
    reporter: Reporter | None = None,
) -> Summary:
    """Purify an image file, a video file, or a folder (recursively, mirroring the tree).

    For a single image or video, ``output_path`` may be a file, or a folder (an existing one, or a
    name without a suffix) in which the input's name is kept. Files that are neither images nor
    videos are ignored inside folders. Progress and failures go to ``reporter`` (a stderr one
    when ``verbose`` and none is given).
    """
    src, dst = Path(input_path), Path(output_path)
    fmt = _check_format(fmt)
    if not src.exists():
        raise ConfigError(f"--input: {src} does not exist")
    if src.is_dir():
        if dst.exists() and not dst.is_dir():
            raise ConfigError(f"--output: {dst} is a file, but the input is a folder")
        if dst.resolve().is_relative_to(src.resolve()):
            # Outputs inside the input tree would be purified again on a rerun.
            raise ConfigError(f"--output: {dst} is inside the input folder {src}; choose another folder")
        files = sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if _kind(p) == "image"]
        videos = [p for p in files if _kind(p) == "video"]
        with _reporting(reporter, verbose, len(images) + len(videos)) as reporter:
            summary = purify_images(
                purifier,
                [(p, image_output_path(p, dst / p.relative_to(src), fmt)) for p in images],
                overwrite,
                batch_size,
                verbose,
                reporter,
            )
            for video in videos:
                summary.merge(purify_video(
                    purifier, video, dst / video.relative_to(src), overwrite, batch_size, verbose, reporter
                ))
            return summary
    kind = _kind(src)
    if kind is None:
        raise ConfigError(
            f"--input: {src} is not an image ({', '.join(IMAGE_EXTENSIONS)}) or a video "
            f"({', '.join(VIDEO_EXTENSIONS)})"
        )
    if dst.is_dir() or not dst.suffix:  # a folder (existing, or a name without a suffix)
        dst = dst / src.name
    if kind == "video":
        return purify_video(purifier, src, dst, overwrite, batch_size, verbose, reporter)
    out = image_output_path(src, dst, fmt) if fmt or not dst.suffix else dst
    if out.suffix.lower().lstrip(".") not in IMAGE_FORMATS:
        raise ConfigError(f"--output: {out} has no image suffix ({', '.join(IMAGE_FORMATS)}); add one or pass --format")
    return purify_images(purifier, [(src, out)], overwrite, batch_size, verbose, reporter)
