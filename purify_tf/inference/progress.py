"""Progress and failure lines for batch purification, fit for a terminal and for a log file.

On a terminal a redrawn bar is what a person wants; in a log (CI, ``nohup``, a pipe) redraws turn
into hundreds of carriage returns and ANSI codes. So (the rule of ``purify_tf.progress``, which the
trainers follow too): a tqdm bar when the stream is a terminal, else one plain line every
``interval_s`` seconds and one at the end. A failed file is one line,
printed when it happens (above the bar), naming the file and the reason.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from purify_tf.progress import DEFAULT_INTERVAL_S, bar_size, is_terminal


class Reporter:
    """Counts processed files, shows progress on ``stream`` (default stderr) and reports failures.

    ``progress=False`` keeps only the failure lines (``--quiet``); ``bar`` forces the tqdm bar on or
    off (default: on exactly when ``stream`` is a terminal); ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        progress: bool = True,
        interval_s: float = DEFAULT_INTERVAL_S,
        bar: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        prefix: str = "purify-tf",
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.progress = progress
        self.interval_s = interval_s
        self.use_bar = is_terminal(self.stream) if bar is None else bar
        self.clock = clock
        self.prefix = prefix
        self.total: int | None = None
        self.unit = "files"
        self.count = self.frames = self.failed = 0
        self.started_at = self._last_line = clock()
        self._bar: Any = None

    @property
    def started(self) -> bool:
        return self.total is not None or self._bar is not None

    def start(self, total: int | None, unit: str = "files") -> None:
        """Begin counting ``total`` items (None when unknown)."""
        self.total, self.unit = total, unit
        self.started_at = self._last_line = self.clock()
        if self.progress and self.use_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=f" {unit}", file=self.stream, leave=True, **bar_size(self.stream))

    def advance(self, n: int = 1) -> None:
        """``n`` more items are done (purified, skipped or failed)."""
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
        self._maybe_line()

    def add_frames(self, n: int) -> None:
        """``n`` more video frames are written (shown while a long video runs)."""
        self.frames += n
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.frames} frames", refresh=True)
        self._maybe_line()

    def fail(self, path: Any, reason: str) -> None:
        """One line for a failed input, printed now."""
        self.failed += 1
        line = f"{self.prefix}: failed: {path}: {reason}"
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def status_line(self) -> str:
        """``12/40 files (30%), 3 failed, 5.2 files/s``: what a periodic log line says."""
        elapsed = max(self.clock() - self.started_at, 1e-9)
        done = f"{self.count}/{self.total}" if self.total else f"{self.count}"
        pct = f" ({100 * self.count // self.total}%)" if self.total else ""
        frames = f", {self.frames} frames" if self.frames else ""
        return (f"{self.prefix}: {done} {self.unit}{pct}{frames}, {self.failed} failed, "
                f"{self.count / elapsed:.1f} {self.unit}/s")

    def _maybe_line(self) -> None:
        if not self.progress or self.use_bar:
            return
        now = self.clock()
        finished = self.total is not None and self.count >= self.total
        if now - self._last_line >= self.interval_s or (finished and self.count):
            self._last_line = now
            print(self.status_line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
